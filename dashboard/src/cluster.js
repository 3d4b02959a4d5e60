// The cluster view: one card per VM with its slots and containers. Cards and container rows are
// kept and updated in place every second (not rebuilt), so focus, flashes and text selection
// survive the updates.

import { el, setText, num, percent, bytes, shortId, flash } from './format.js';

export class ClusterView {
  // actions: { vm(name, 'activate'|'standby'), drain(containerId) }
  constructor(root, emptyNote, actions) {
    this.root = root;
    this.emptyNote = emptyNote;
    this.actions = actions;
    this.cards = new Map();   // vm name -> { card, parts, rows: Map(id -> row) }
    this.filled = false;      // new containers are highlighted, but not those of the first view
  }

  update(unsorted) {
    const vms = [...unsorted].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    const seen = new Set();
    for (const vm of vms) {
      seen.add(vm.name);
      let entry = this.cards.get(vm.name);
      if (!entry) {
        entry = this.createCard(vm.name);
        this.cards.set(vm.name, entry);
      }
      this.fillCard(entry, vm);
    }
    for (const [name, entry] of this.cards) {
      if (!seen.has(name)) {
        entry.card.remove();
        this.cards.delete(name);
      }
    }
    // Cards in name order, whatever order the API lists the VMs in.
    vms.forEach((vm, i) => {
      const card = this.cards.get(vm.name).card;
      if (this.root.children[i] !== card)
        this.root.insertBefore(card, this.root.children[i] || null);
    });
    this.emptyNote.hidden = vms.length > 0;
    this.filled = true;
  }

  createCard(name) {
    const parts = {
      state: el('span', { class: 'badge' }),
      address: el('span'),
      cpu: el('span'),
      count: el('span'),
      slots: el('div', { class: 'slots', role: 'img' }),
      list: el('ul', { class: 'containers', 'aria-label': `Containers on ${name}` }),
      none: el('p', { class: 'empty', text: 'No containers.' }),
      failure: el('p', { class: 'vm-failure', role: 'status' }),
      activate: el('button', { type: 'button', class: 'needs-token', text: 'Activate',
                               onclick: () => this.actions.vm(name, 'activate') }),
      standby: el('button', { type: 'button', class: 'needs-token', text: 'Standby',
                              onclick: () => this.actions.vm(name, 'standby') }),
    };
    const card = el('article', { class: 'vm', 'data-vm': name, 'aria-labelledby': `vm-${name}-h` },
      el('header', {},
        el('h3', { id: `vm-${name}-h`, text: name }),
        parts.state),
      el('p', { class: 'vm-meta' }, parts.address, ' · CPU ', parts.cpu, ' · ', parts.count),
      parts.failure,
      parts.slots,
      parts.list,
      parts.none,
      el('div', { class: 'vm-actions' }, parts.activate, parts.standby));
    this.root.append(card);
    return { card, parts, rows: new Map() };
  }

  fillCard(entry, vm) {
    const { card, parts } = entry;
    const containers = Array.isArray(vm.containers) ? vm.containers : [];
    card.dataset.state = vm.state;
    setText(parts.state, vm.state);
    parts.state.dataset.state = vm.state;
    setText(parts.address, vm.address || '');
    setText(parts.cpu, `${num(vm.cpu, 2)} CPUs`);
    // A VM that is not up has no slots yet; a declared one says what it brings once up.
    const comingSlots = !vm.capacity && vm.declared_capacity > 0 ? vm.declared_capacity : 0;
    setText(parts.count, comingSlots ? `${comingSlots} slots once up` : `${containers.length} of ${vm.capacity} slots`);
    // A VM with a power provider (systemd, libvirt) is powered on and off; an agent VM only
    // changes between active and standby. The VIM's activate/standby do either.
    const powered = vm.provider && vm.provider !== 'agent';
    setText(parts.activate, powered ? 'Power on' : 'Activate');
    setText(parts.standby, powered ? 'Power off' : 'Standby');
    parts.activate.hidden = powered ? !['off', 'failed'].includes(vm.state) : vm.state === 'active';
    parts.standby.hidden = powered ? ['off', 'powering-off'].includes(vm.state) : vm.state === 'standby';
    setText(parts.failure, vm.state === 'failed' && vm.failure ? `Failed: ${vm.failure}` : '');
    parts.failure.hidden = !(vm.state === 'failed' && vm.failure);

    this.fillSlots(parts.slots, vm.capacity, containers);

    const seen = new Set();
    for (const c of containers) {
      seen.add(c.id);
      let row = entry.rows.get(c.id);
      if (!row) {
        row = this.createRow(c.id);
        entry.rows.set(c.id, row);
        parts.list.append(row.li);
        if (this.filled)
          flash(row.li, 'appear');
      }
      this.fillRow(row, c);
    }
    for (const [id, row] of entry.rows) {
      if (!seen.has(id)) {
        row.li.remove();
        entry.rows.delete(id);
      }
    }
    parts.none.hidden = containers.length > 0;
  }

  fillSlots(slots, capacity, containers) {
    const total = Math.max(capacity || 0, containers.length);
    while (slots.children.length < total)
      slots.append(el('span', { class: 'slot' }));
    while (slots.children.length > total)
      slots.lastChild.remove();
    [...slots.children].forEach((slot, i) => {
      const state = containers[i] ? containers[i].state : 'free';
      if (slot.dataset.state !== state)
        slot.dataset.state = state;
    });
    slots.setAttribute('aria-label', `${containers.length} of ${capacity} container slots used`);
  }

  createRow(id) {
    const row = {
      id: el('code', { title: id, text: shortId(id) }),
      port: el('span', { class: 'port' }),
      state: el('span', { class: 'badge' }),
      bar: el('span', { class: 'bar-fill' }),
      meter: null,
      cpu: el('span', { class: 'cpu-text' }),
      inflight: el('span', { class: 'inflight' }),
      mem: el('span', { class: 'mem' }),
      drain: el('button', { type: 'button', class: 'needs-token small', text: 'Drain',
                            'aria-label': `Drain container ${shortId(id)}`,
                            onclick: () => this.actions.drain(id) }),
    };
    row.meter = el('span', { class: 'bar', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100',
                             'aria-label': `CPU of ${shortId(id)} against its limit` }, row.bar);
    row.li = el('li', { class: 'container', 'data-container': id },
      row.id, row.port, row.state,
      el('span', { class: 'cpu' }, row.meter, row.cpu),
      row.inflight, row.mem, row.drain);
    return row;
  }

  fillRow(row, c) {
    row.li.dataset.state = c.state;
    setText(row.port, `:${c.port}`);
    setText(row.state, c.state);
    row.state.dataset.state = c.state;
    const pct = Math.max(0, Math.round((c.cpu || 0) * 100));
    row.bar.style.width = `${Math.min(pct, 100)}%`;
    row.bar.dataset.level = pct >= 90 ? 'high' : pct >= 60 ? 'mid' : 'low';
    row.meter.setAttribute('aria-valuenow', String(Math.min(pct, 100)));
    setText(row.cpu, `${percent(c.cpu)} of ${num(c.cpu_limit, c.cpu_limit % 1 ? 2 : 0)} CPU`);
    setText(row.inflight, `${num(c.in_flight)} in flight`);
    setText(row.mem, bytes(c.mem));
    row.drain.hidden = c.state !== 'ready';
  }

  // Flashes the container that answered a probe; answer is the probe's container name, which
  // may be the full id or the short (hostname) form.
  flashContainer(answer) {
    if (!answer)
      return null;
    for (const entry of this.cards.values()) {
      for (const [id, row] of entry.rows) {
        if (id.startsWith(answer) || answer.startsWith(id.slice(0, 12))) {
          flash(row.li);
          return row.li;
        }
      }
    }
    return null;
  }
}
