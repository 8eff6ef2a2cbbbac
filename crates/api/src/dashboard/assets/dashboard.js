// Storefleet dashboard: live updates for the server-rendered pages. No framework, no build.
// Everything from the API is written with textContent, never as HTML.
'use strict';

(function () {
  const LIST_EVERY_MS = 2000;

  function liveStatus(state, text) {
    const el = document.getElementById('live-status');
    if (el) {
      el.dataset.state = state;
      el.textContent = text;
    }
  }

  function time(iso) {
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? '' : at.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }

  function isWebUrl(url) {
    return typeof url === 'string' && /^https?:\/\//.test(url);
  }

  function link(url, text) {
    const a = document.createElement('a');
    a.href = url;
    a.textContent = text;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function muted(text) {
    const span = document.createElement('span');
    span.className = 'muted';
    span.textContent = text;
    return span;
  }

  // The same summary the server renders: "done/total", then the first step not yet true.
  function progress(conditions, total) {
    const done = conditions.filter((c) => c.status === 'True').length;
    const blocked = conditions.find((c) => c.status !== 'True');
    return `${done}/${total}` + (blocked ? ` · ${blocked.type}: ${blocked.reason}` : '');
  }

  function setText(root, field, text) {
    const el = root.querySelector(`[data-field="${field}"]`);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function setPhase(root, phase) {
    const el = root.querySelector('[data-field="phase"]');
    if (el && el.textContent !== phase) {
      el.textContent = phase;
      el.className = 'phase phase-' + String(phase).replace(/[^a-z]/g, '');
    }
  }

  // A store being deleted can no longer be deleted, and its credentials are gone: drop both buttons.
  function dropDeleteButton(root, phase) {
    if (phase === 'deleting' || phase === 'deleted') {
      root.querySelectorAll('form[action$="/delete"], form[action$="/credentials"]').forEach((form) => form.remove());
    }
  }

  // Destructive forms ask first.
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // The list: poll the JSON list and update each row in place.
  function followList() {
    const table = document.getElementById('stores');
    if (!table) {
      liveStatus('ok', 'live');
      return;
    }
    const total = Number(table.dataset.conditionsTotal) || 6;
    const after = new URLSearchParams(window.location.search).get('after');
    const url = '/api/v1/stores?limit=200' + (after ? '&after=' + encodeURIComponent(after) : '');

    function update(row, store) {
      setPhase(row, store.phase);
      setText(row, 'progress', progress(store.conditions || [], total));
      setText(row, 'message', store.message || '');
      const message = row.querySelector('[data-field="message"]');
      if (message) message.title = store.message || '';
      const links = row.querySelector('[data-field="links"]');
      const wanted = [
        [store.storefront_url, 'storefront'],
        [store.admin_url, 'admin'],
      ].filter(([u]) => isWebUrl(u));
      if (links && links.querySelectorAll('a').length !== wanted.length) {
        links.replaceChildren();
        wanted.forEach(([u, text], i) => {
          if (i > 0) links.append(' ');
          links.append(link(u, text));
        });
        if (wanted.length === 0) links.append(muted('—'));
      }
      dropDeleteButton(row, store.phase);
    }

    async function tick() {
      try {
        const response = await fetch(url, {
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { Accept: 'application/json' },
        });
        if (response.status === 401) {
          window.location.assign('/login');
          return;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const body = await response.json();
        for (const store of body.items) {
          const row = table.querySelector(`tr[data-store-id="${CSS.escape(store.id)}"]`);
          if (row) update(row, store);
        }
        liveStatus('ok', 'live');
      } catch (_) {
        liveStatus('error', 'reconnecting…');
      }
      window.setTimeout(tick, LIST_EVERY_MS);
    }
    tick();
  }

  // A store's page: follow its events over SSE and refresh the store after each one.
  function followStore() {
    const root = document.getElementById('store');
    if (!root) return;
    const id = root.dataset.storeId;
    const events = document.getElementById('events');
    const base = '/api/v1/stores/' + encodeURIComponent(id);
    let refreshing = null;
    let again = false;

    function addEvent(event) {
      if (events.querySelector(`[data-event-id="${CSS.escape(String(event.id))}"]`)) return;
      const item = document.createElement('li');
      item.className = 'event fresh kind-' + String(event.kind).toLowerCase().replace(/[^a-z]/g, '');
      item.dataset.eventId = String(event.id);
      const at = document.createElement('time');
      at.textContent = time(event.at);
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = event.reason;
      const message = document.createElement('span');
      message.className = 'message';
      message.textContent = event.message;
      item.append(at, reason, message);
      events.prepend(item);
    }

    function show(store) {
      setPhase(root, store.phase);
      setText(root, 'message', store.message || '');
      setText(document, 'progress', progress(store.conditions || [], 6));
      setText(document, 'updated', time(store.updated_at));
      setText(document, 'generation', `${store.observed_generation} of ${store.generation} applied`);
      for (const [field, url] of [['storefront', store.storefront_url], ['admin', store.admin_url]]) {
        const cell = document.querySelector(`[data-field="${field}"]`);
        if (!cell) continue;
        if (isWebUrl(url) && !cell.querySelector('a')) cell.replaceChildren(link(url, url));
      }
      for (const condition of store.conditions || []) {
        const row = document.querySelector(`tr[data-condition="${CSS.escape(condition.type)}"]`);
        if (!row) continue;
        const status = row.querySelector('[data-field="status"]');
        status.textContent = condition.status;
        status.className = 'status status-' + String(condition.status).toLowerCase().replace(/[^a-z]/g, '');
        setText(row, 'reason', condition.reason);
        setText(row, 'message', condition.message);
        setText(row, 'since', time(condition.last_transition_time));
      }
      dropDeleteButton(document, store.phase);
    }

    // One refresh at a time; a burst of events ends in one more.
    async function refresh() {
      if (refreshing) {
        again = true;
        return;
      }
      refreshing = fetch(base, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
        .then((r) => (r.ok ? r.json() : null))
        .then((store) => store && show(store))
        .catch(() => {})
        .finally(() => {
          refreshing = null;
          if (again) {
            again = false;
            refresh();
          }
        });
    }

    const source = new EventSource(base + '/events?after=' + encodeURIComponent(root.dataset.lastEventId || '0'));
    source.addEventListener('open', () => liveStatus('ok', 'live'));
    source.addEventListener('error', () => {
      liveStatus('error', source.readyState === EventSource.CLOSED ? 'disconnected; reload the page' : 'reconnecting…');
    });
    source.addEventListener('store-event', (message) => {
      try {
        addEvent(JSON.parse(message.data));
      } catch (_) {
        return;
      }
      refresh();
    });
    source.addEventListener('end', () => {
      source.close();
      liveStatus('done', 'store deleted; stream ended');
      refresh();
    });
    refresh();
  }

  const page = document.body.dataset.page;
  if (page === 'list') followList();
  if (page === 'detail') followStore();
})();
