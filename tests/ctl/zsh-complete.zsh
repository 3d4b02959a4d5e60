# SPDX-License-Identifier: MIT
# Usage: zsh -f zsh-complete.zsh COMPLETION_DIR WORK_DIR LINE
#
# Types LINE and a Tab into an interactive zsh on a pseudo-terminal (zsh/zpty), with compinit
# loading the completions of COMPLETION_DIR, and prints the words zsh's completion system
# offers, one a line. compadd is wrapped to write the matches it is given (after zsh's own
# matching against the word under the cursor) to a file instead of the screen, which would
# need a terminal emulator to read back. Exits 1 if the completion did not finish in 10 s.
zmodload zsh/zpty || exit 2
completion_dir=$1 work_dir=$2 line=$3
out=$work_dir/zsh-matches
setup=$work_dir/zsh-setup

rm -f $out
cat >$setup <<EOF
PROMPT= RPROMPT=
fpath=(${(q)completion_dir} \$fpath)
autoload -Uz compinit && compinit -u -d ${(q)work_dir}/zcompdump
bindkey '^I' complete-word
compadd() {
        # Calls that only compute matches into an array (-O, -A, -D) are the completion
        # system's own bookkeeping: pass them through.
        if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
                builtin compadd "\$@"
                return
        fi
        local -a hits
        builtin compadd -A hits "\$@"
        (( \$#hits )) && print -rl -- \$hits >>${(q)out}
        return 0
}
__acs_completion_done() { print -r -- '--end--' >>${(q)out} }
comppostfuncs=(__acs_completion_done)
EOF

zpty acs zsh -f -i
zpty -w acs "source ${(q)setup}"
zpty -w -n acs "$line"$'\t'
for i in {1..100}; do
        # Keep the pseudo-terminal's buffer from filling with the shell's echo.
        zpty -r -t acs junk 2>/dev/null
        [[ -e $out ]] && grep -qx -- --end-- $out && break
        sleep 0.1
done
zpty -d acs
[[ -e $out ]] && grep -qx -- --end-- $out || exit 1
grep -vx -- --end-- $out
exit 0
