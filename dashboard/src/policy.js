// The policy form: shows the policy in force (from every state update) and sends only the fields
// the person changed, as a partial policy (PUT /api/v1/policy). Fields being edited are not
// overwritten by the live updates.

export class PolicyView {
  // submit(changes) -> Promise<boolean>: true when the VIM accepted the change
  constructor(form, submit) {
    this.form = form;
    this.submit = submit;
    this.current = null;
    this.fields = [...form.querySelectorAll('[name]')];

    for (const field of this.fields)
      field.addEventListener('input', () => { field.dataset.dirty = '1'; });
    form.addEventListener('reset', (ev) => {
      ev.preventDefault();
      this.clearDirty();
      this.fill(this.current);
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.send();
    });
  }

  fill(policy) {
    if (!policy)
      return;
    this.current = policy;
    for (const field of this.fields) {
      if (field.dataset.dirty || !(field.name in policy))
        continue;
      const value = policy[field.name];
      if (field.type === 'checkbox')
        field.checked = Boolean(value);
      else if (String(field.value) !== String(value))
        field.value = String(value);
    }
  }

  changes() {
    const out = {};
    for (const field of this.fields) {
      if (!field.dataset.dirty)
        continue;
      if (field.type === 'checkbox')
        out[field.name] = field.checked;
      else if (field.type === 'number')
        out[field.name] = Number(field.value);
      else
        out[field.name] = field.value;
    }
    return out;
  }

  clearDirty() {
    for (const field of this.fields)
      delete field.dataset.dirty;
  }

  async send() {
    const changes = this.changes();
    if (!Object.keys(changes).length)
      return this.submit(null);
    if (await this.submit(changes))
      this.clearDirty();
  }
}
