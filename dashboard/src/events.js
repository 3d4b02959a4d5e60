// The events timeline: the ACS events the VIM logs (scaling decisions with their inputs, VM state
// changes, health, policy changes), newest first. On every (re)connect the VIM replays its last
// 100 events, so entries already shown are recognised and skipped.

import { el, clock } from './format.js';

const MAX_ENTRIES = 300;
// "scale-hold" comes every second while a decision is held; container lifecycle events come from
// the VMMs. Both can be filtered out to leave the decisions and the changes people made.
const QUIET_EVENTS = new Set(['scale-hold']);
const FILTERS = {
  all: [],
  'no-hold': ['hide-quiet'],
  decisions: ['hide-quiet', 'hide-lifecycle'],
};

export class EventsView {
  constructor(list, filterSelect) {
    this.list = list;
    this.filter = filterSelect;
    this.seen = new Set();
    this.filter.addEventListener('change', () => this.applyFilter());
    this.applyFilter();
  }

  add(entry) {
    if (!entry || typeof entry.message !== 'string')
      return;
    const key = `${entry.time}|${entry.event}|${entry.vm}|${entry.container}|${entry.message}`;
    if (this.seen.has(key))
      return;
    this.seen.add(key);

    const kind = String(entry.event || entry.level || 'info');
    const when = typeof entry.time === 'number' ? clock(entry.time) : '';
    const subject = [entry.vm, entry.container ? entry.container.slice(0, 12) : null].filter(Boolean).join(' / ');
    const li = el('li', { class: 'event', 'data-event': kind, 'data-level': entry.level || 'info' },
      el('time', { datetime: typeof entry.time === 'number' ? new Date(entry.time * 1000).toISOString() : undefined,
                   text: when }),
      el('span', { class: 'head' },
        el('span', { class: 'kind', text: kind }),
        subject ? el('span', { class: 'subject', text: subject }) : null),
      el('span', { class: 'message', text: entry.message }));
    if (QUIET_EVENTS.has(kind))
      li.classList.add('quiet');
    if (kind.startsWith('container-'))
      li.classList.add('lifecycle');

    // Insert by time: replayed events may be older than what is on the page.
    let before = this.list.firstElementChild;
    while (before && Number(before.dataset.time) > entry.time)
      before = before.nextElementSibling;
    li.dataset.time = String(entry.time);
    li.dataset.key = key;
    this.list.insertBefore(li, before);

    while (this.list.children.length > MAX_ENTRIES) {
      const oldest = this.list.lastElementChild;
      this.seen.delete(oldest.dataset.key);
      oldest.remove();
    }
  }

  applyFilter() {
    const hide = FILTERS[this.filter.value] || [];
    for (const cls of ['hide-quiet', 'hide-lifecycle'])
      this.list.classList.toggle(cls, hide.includes(cls));
  }
}
