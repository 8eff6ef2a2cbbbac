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

  // "3 min ago" for a time in the past (the exact time stays in the title).
  function relative(at, now) {
    const seconds = Math.max(0, Math.round((now - at) / 1000));
    if (seconds < 45) return 'just now';
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 48) return `${hours} h ago`;
    return `${Math.round(hours / 24)} days ago`;
  }

  // "in 8 min" / "passed 2 min ago" for a deadline; "4 min" for time elapsed since a start.
  function span(ms) {
    const seconds = Math.round(Math.abs(ms) / 1000);
    if (seconds < 90) return `${seconds} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return `${minutes} min`;
    return `${Math.round(minutes / 60)} h`;
  }

  // The text of a <time data-relative="KIND">, by kind, from its time `at` and `now` (ms).
  const RELATIVE = {
    ago: (at, now) => relative(at, now),
    elapsed: (at, now) => span(now - at),
    deadline: (at, now) => (at > now ? `in ${span(at - now)}` : `passed ${span(now - at)} ago`),
  };

  // Keep every <time data-relative> under `root` current; its title keeps the full time.
  function refreshTimes(root) {
    const now = Date.now();
    root.querySelectorAll('time[data-relative][datetime]').forEach((el) => {
      const format = RELATIVE[el.dataset.relative];
      const at = Date.parse(el.getAttribute('datetime'));
      if (!format || Number.isNaN(at)) return;
      const text = format(at, now);
      if (el.textContent !== text) el.textContent = text;
      el.title = time(el.getAttribute('datetime'));
    });
  }

  // The step being retried after failing, while provisioning: "Step: message", or ''.
  function failingStep(store) {
    if (store.phase !== 'provisioning') return '';
    const failing = (store.conditions || []).find((c) => c.status === 'False' && c.reason === 'Retrying');
    return failing ? `${failing.type}: ${failing.message}` : '';
  }

  // The list: poll the JSON list, update each row in place, add stores created elsewhere (CLI,
  // API), and apply the search, phase and engine filters and the sort.
  function followList() {
    const table = document.getElementById('stores');
    if (!table) {
      liveStatus('ok', 'live');
      return;
    }
    const body = table.tBodies[0];
    const template = document.getElementById('store-row');
    const empty = document.getElementById('no-stores');
    const controls = {
      text: document.getElementById('filter-text'),
      phase: document.getElementById('filter-phase'),
      engine: document.getElementById('filter-engine'),
      sort: document.getElementById('sort'),
    };
    const total = Number(table.dataset.conditionsTotal) || 6;
    const after = new URLSearchParams(window.location.search).get('after');
    // Deleted stores too (their rows turn deleted in place), oldest first as the page is paged.
    const url =
      '/api/v1/stores?limit=200&phase=all&order=oldest' + (after ? '&after=' + encodeURIComponent(after) : '');

    function shown(row) {
      const text = controls.text.value.trim().toLowerCase();
      const phase = controls.phase.value;
      const engine = controls.engine.value;
      const { name = '', owner = '' } = row.dataset;
      if (text && !name.toLowerCase().includes(text) && !owner.toLowerCase().includes(text)) return false;
      if (phase === 'live' && row.dataset.phase === 'deleted') return false;
      if (phase !== 'live' && phase !== 'all' && row.dataset.phase !== phase) return false;
      return engine === 'all' || row.dataset.engine === engine;
    }

    function applyFilters() {
      const rows = Array.from(body.rows);
      const by = controls.sort.value;
      rows.sort((a, b) => {
        if (by === 'name') return a.dataset.name.localeCompare(b.dataset.name);
        const order = Date.parse(a.dataset.created) - Date.parse(b.dataset.created);
        return by === 'oldest' ? order : -order;
      });
      let visible = 0;
      for (const row of rows) {
        row.hidden = !shown(row);
        if (!row.hidden) visible += 1;
        body.append(row);
      }
      if (empty) {
        empty.hidden = visible > 0;
        empty.textContent = rows.length
          ? 'No store matches these filters.'
          : 'No stores yet. Create one above: it is ready once a test order has gone through it.';
      }
    }

    function update(row, store) {
      const gone = store.phase === 'deleted';
      row.dataset.phase = store.phase;
      setPhase(row, store.phase);
      const failing = failingStep(store);
      const badge = row.querySelector('[data-field="phase"]');
      if (badge) {
        badge.classList.toggle('failing', failing !== '');
        badge.title = failing ? `retrying after a failure: ${failing}` : '';
      }
      // A deleted store keeps no live links, no "retrying" message and no stale progress.
      setText(row, 'progress', gone ? '' : progress(store.conditions || [], total));
      setText(row, 'message', gone ? '' : store.message || '');
      const message = row.querySelector('[data-field="message"]');
      if (message) message.title = gone ? '' : store.message || '';
      const links = row.querySelector('[data-field="links"]');
      const wanted = gone
        ? []
        : [
            [store.storefront_url, 'storefront'],
            [store.admin_url, 'admin'],
          ].filter(([u]) => isWebUrl(u));
      if (links && (links.querySelectorAll('a').length !== wanted.length || links.childNodes.length === 0)) {
        links.replaceChildren();
        wanted.forEach(([u, text], i) => {
          if (i > 0) links.append(' ');
          links.append(link(u, text));
        });
        if (wanted.length === 0) links.append(muted('—'));
      }
      dropDeleteButton(row, store.phase);
    }

    // A row for a store this page was not rendered with, from the server's own row template.
    function addRow(store) {
      if (!template || after) return null;
      const row = template.content.firstElementChild.cloneNode(true);
      row.id = 'store-' + store.id;
      Object.assign(row.dataset, {
        storeId: store.id,
        name: store.name,
        owner: store.owner || '',
        engine: store.engine,
        phase: store.phase,
        created: store.created_at,
      });
      const name = row.querySelector('a.store-name');
      name.href = '/stores/' + encodeURIComponent(store.id);
      name.textContent = store.name;
      setText(row, 'host', store.host || '');
      setText(row, 'owner', store.owner || '');
      setText(row, 'engine', store.engine);
      setText(row, 'plan', store.plan);
      row.querySelector('[data-field="created"]').setAttribute('datetime', store.created_at);
      const form = row.querySelector('form');
      form.action = '/stores/' + encodeURIComponent(store.id) + '/delete';
      form.dataset.confirm = `Delete the store ${store.name}? Its namespace and data are removed.`;
      update(row, store);
      body.append(row);
      return row;
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
        const list = await response.json();
        for (const store of list.items) {
          const row = body.querySelector(`tr[data-store-id="${CSS.escape(store.id)}"]`);
          if (row) update(row, store);
          else addRow(store);
        }
        applyFilters();
        refreshTimes(table);
        liveStatus('ok', 'live');
      } catch (_) {
        liveStatus('error', 'reconnecting…');
      }
      window.setTimeout(tick, LIST_EVERY_MS);
    }
    for (const control of Object.values(controls)) {
      control?.addEventListener('input', applyFilters);
      control?.addEventListener('change', applyFilters);
    }
    document.getElementById('filters')?.addEventListener('submit', (event) => event.preventDefault());
    applyFilters();
    refreshTimes(table);
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
      const retry = document.getElementById('retry-form');
      if (retry) retry.hidden = store.phase !== 'failed';
      const failing = failingStep(store);
      const banner = document.getElementById('failing');
      if (banner) {
        banner.hidden = failing === '';
        setText(banner, 'failing', failing);
      }
      if (store.phase !== 'requested' && store.phase !== 'provisioning') {
        document.querySelectorAll('time[data-relative="deadline"]').forEach((el) => {
          delete el.dataset.relative;
          el.textContent = time(el.getAttribute('datetime'));
        });
      }
      refreshTimes(document);
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

    window.setInterval(() => refreshTimes(document), 5000);
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

  // Copy buttons: the text of the element they name, through the clipboard API where the page
  // may use it, else by selecting it for the browser's own copy command.
  document.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    let copied = false;
    try {
      await navigator.clipboard.writeText(source.textContent);
      copied = true;
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      copied = document.execCommand('copy');
    }
    button.textContent = copied ? 'Copied' : 'Select and copy';
    window.setTimeout(() => {
      button.textContent = 'Copy';
    }, 2000);
  });

  const page = document.body.dataset.page;
  if (page === 'list') followList();
  if (page === 'detail') followStore();
})();
