// Pombo's admin page: plain JavaScript over the JSON API, no framework.
//
// Every value from the API reaches the page through textContent or setAttribute, never as
// HTML. The operator signs in (password and TOTP code); the session lives in an HttpOnly
// cookie this script cannot read, and the page holds only the session's CSRF token, in
// memory, sent as `X-CSRF-Token` with every request, and the chosen tenant, sent as
// `X-Pombo-Tenant`. `#tab=audit` (or `redrive`, `providers`, `conversations`, `live`,
// `webhooks`) opens that section, and `#notification=<id>` that notification's details.
'use strict';

(function () {
  const TENANT_STORAGE = 'pombo.admin.tenant';
  const CHANNELS = ['email', 'sms', 'push', 'whatsapp', 'instagram', 'telegram', 'webhook'];
  const PAGE_SIZE = 50;
  // A webhook endpoint's attempts, whose rows hold the receivers' answers: fewer at a time.
  const ATTEMPTS_PAGE_SIZE = 25;
  // The signed-in session (`GET /v1/operator/session`), or null.
  let session = null;
  let tenant = '';

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers ------------------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [name, value] of Object.entries(attrs)) {
        if (value === undefined || value === null || value === false) continue;
        if (name === 'text') node.textContent = String(value);
        else if (name === 'class') node.className = value;
        else node.setAttribute(name, value === true ? '' : String(value));
      }
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  /** A `<time>` showing local time, with the exact instant in its attributes. */
  function timeEl(value) {
    if (!value) return el('span', { class: 'muted', text: '—' });
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return document.createTextNode(String(value));
    return el('time', { datetime: value, title: value }, formatTime(date));
  }

  function formatTime(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function badge(status) {
    const known = ['pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'skipped',
      'in_progress', 'retryable_error', 'permanent_error', 'lost', 'open', 'closed'];
    const kind = known.includes(status) ? status : 'unknown';
    return el('span', { class: `badge badge-${kind}`, text: status == null ? '—' : status });
  }

  function textOrDash(value) {
    if (value === undefined || value === null || value === '') {
      return el('span', { class: 'muted', text: '—' });
    }
    return document.createTextNode(String(value));
  }

  function shortId(id) {
    // UUIDv7 ids share their leading (time) digits; the tail tells them apart.
    const s = String(id);
    return s.length > 12 ? `…${s.slice(-12)}` : s;
  }

  function cell(content, attrs) {
    return el('td', attrs || null, content instanceof Node ? content : textOrDash(content));
  }

  function emptyRow(tbody, columns, message) {
    tbody.append(el('tr', null, el('td', { colspan: columns, class: 'empty', text: message })));
  }

  // ---- Problems (RFC 9457) --------------------------------------------------------------

  class Problem extends Error {
    constructor(body, status) {
      super((body && (body.detail || body.title)) || 'request failed');
      this.body = body || {};
      this.status = status;
    }
  }

  function showProblem(box, error) {
    clear(box);
    if (!error) {
      show(box, false);
      return;
    }
    const body = error instanceof Problem ? error.body : { title: 'Error', detail: String(error) };
    const title = body.title || 'Error';
    const status = error instanceof Problem && error.status ? ` (${error.status})` : '';
    box.append(el('strong', { text: title + status }));
    if (body.detail) box.append(el('p', { text: body.detail }));
    if (Array.isArray(body.errors) && body.errors.length) {
      const list = el('ul');
      for (const e of body.errors) {
        list.append(el('li', null, el('code', { text: e.field }), ': ', String(e.reason)));
      }
      box.append(list);
    }
    show(box, true);
  }

  // ---- The API ------------------------------------------------------------------------------

  /** A call of the JSON API with the session's cookie, CSRF token and chosen tenant. */
  // `background`: the page asks by itself (a stream token's renewal), not the operator, so
  // the request does not keep the session from idling out.
  async function api(method, path, body, background) {
    if (!session) {
      throw new Problem({ title: 'Not signed in', detail: 'Sign in first.' });
    }
    const headers = { 'X-CSRF-Token': session.csrf_token, 'X-Pombo-Tenant': tenant };
    if (background) headers['X-Pombo-Background'] = '1';
    return request(method, path, body, headers);
  }

  async function request(method, path, body, extraHeaders) {
    const init = {
      method,
      headers: Object.assign({ Accept: 'application/json' }, extraHeaders || {}),
      credentials: 'same-origin',
      cache: 'no-store',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new Problem({ title: 'Network error', detail: `the API did not answer: ${e.message || e}` });
    }
    const text = await response.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch (_) {
        json = null;
      }
    }
    if (!response.ok) {
      const problem = json && typeof json === 'object'
        ? json
        : { title: response.statusText || 'Request failed', detail: text.slice(0, 500) };
      // The session ended (expired, idle, signed out elsewhere): back to the sign-in form.
      if (response.status === 401 && session && path !== SESSION_PATH) signedOut();
      throw new Problem(problem, response.status);
    }
    return json;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') q.set(name, value);
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  /** A `datetime-local` value as RFC 3339 (UTC), or undefined when empty or invalid. */
  function rfc3339(input) {
    if (!input.value) return undefined;
    const date = new Date(input.value);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }

  // ---- Confirmation -------------------------------------------------------------------------

  function confirmAction(title, text, confirmLabel) {
    const dialog = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = confirmLabel;
    if (typeof dialog.showModal !== 'function') {
      return Promise.resolve(window.confirm(`${title}\n\n${text}`));
    }
    return new Promise((resolve) => {
      dialog.returnValue = '';
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
      $('confirm-no').focus();
    });
  }

  // ---- Session ------------------------------------------------------------------------------

  const SESSION_PATH = '/v1/operator/session';

  function storedTenant() {
    try {
      return sessionStorage.getItem(TENANT_STORAGE) || '';
    } catch (_) {
      return '';
    }
  }

  function storeTenant(name) {
    try {
      sessionStorage.setItem(TENANT_STORAGE, name);
    } catch (_) {
      // Storage disabled: the choice lasts until the page is left.
    }
  }

  function resetSections() {
    loaded.clear();
    notifications.close();
    conversations.close();
    live.stop();
    webhooks.close();
    for (const id of ['list-body', 'audit-body', 'providers-body', 'redrive-ids', 'redrive-result',
      'conversations-body', 'conversation-messages', 'webhooks-body', 'webhook-attempts']) clear($(id));
    $('list-summary').textContent = '';
    $('webhooks-summary').textContent = '';
    show($('list-more'), false);
    show($('audit-more'), false);
    show($('webhooks-more'), false);
  }

  /** Shows the sections for `view` (a SessionView), or the sign-in form when null. */
  function signedIn(view) {
    session = view;
    show($('sign-in'), !view);
    show($('signed-in'), Boolean(view));
    show($('session-bar'), Boolean(view));
    if (!view) return;
    $('session-who').textContent = `Signed in as ${view.operator.email}`;
    const select = $('session-tenant');
    clear(select);
    for (const t of view.tenants) select.append(el('option', { value: t.name, text: t.name }));
    const names = view.tenants.map((t) => t.name);
    tenant = names.includes(storedTenant()) ? storedTenant() : (names[0] || '');
    select.value = tenant;
  }

  function signedOut() {
    session = null;
    resetSections();
    signedIn(null);
    $('sign-in-email').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    showProblem($('sign-in-problem'), null);
    const body = {
      email: $('sign-in-email').value.trim(),
      password: $('sign-in-password').value,
      code: $('sign-in-code').value.trim(),
    };
    $('sign-in-submit').disabled = true;
    try {
      const view = await request('POST', SESSION_PATH, body);
      $('sign-in-password').value = '';
      $('sign-in-code').value = '';
      signedIn(view);
      loadTab(currentTab);
    } catch (e) {
      $('sign-in-code').value = '';
      showProblem($('sign-in-problem'), e);
    } finally {
      $('sign-in-submit').disabled = false;
    }
  }

  async function signOut() {
    try {
      await request('DELETE', SESSION_PATH, undefined, { 'X-CSRF-Token': session ? session.csrf_token : '' });
    } catch (_) {
      // Ended already: signed out either way.
    }
    signedOut();
  }

  // ---- Tabs ---------------------------------------------------------------------------------

  const TABS = ['notifications', 'redrive', 'audit', 'providers', 'conversations', 'live', 'webhooks', 'overview'];
  const loaded = new Set();
  let currentTab = 'notifications';

  function selectTab(name, focus) {
    currentTab = name;
    for (const tab of TABS) {
      const button = $(`tab-${tab}`);
      const selected = tab === name;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      show($(`panel-${tab}`), selected);
    }
    if (focus) $(`tab-${name}`).focus();
    if (!loaded.has(name)) loadTab(name);
  }

  function loadTab(name) {
    if (!session || !tenant) return;
    loaded.add(name);
    if (name === 'notifications') notifications.search();
    else if (name === 'audit') audit.load(false);
    else if (name === 'providers') providers.load();
    else if (name === 'conversations') conversations.load();
    else if (name === 'live') live.start();
    else if (name === 'webhooks') webhooks.load(false);
    else if (name === 'overview') overview.load();
  }

  function setUpTabs() {
    for (const name of TABS) {
      $(`tab-${name}`).addEventListener('click', () => selectTab(name, false));
    }
    $('tab-notifications').parentElement.addEventListener('keydown', (event) => {
      const index = TABS.indexOf(currentTab);
      let next = null;
      if (event.key === 'ArrowRight') next = TABS[(index + 1) % TABS.length];
      else if (event.key === 'ArrowLeft') next = TABS[(index + TABS.length - 1) % TABS.length];
      else if (event.key === 'Home') next = TABS[0];
      else if (event.key === 'End') next = TABS[TABS.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next, true);
      }
    });
  }

  // ---- Notifications ------------------------------------------------------------------------

  const notifications = {
    cursor: null,
    filter: {},
    openId: null,

    async search() {
      this.filter = {
        status: $('list-status').value,
        channel: $('list-channel').value,
        since: rfc3339($('list-since')),
        until: rfc3339($('list-until')),
        limit: PAGE_SIZE,
      };
      this.cursor = null;
      clear($('list-body'));
      await this.page();
    },

    async page() {
      const box = $('list-problem');
      const more = $('list-more');
      more.disabled = true;
      $('list-summary').textContent = 'Loading…';
      try {
        const params = Object.assign({}, this.filter, { cursor: this.cursor });
        const page = await api('GET', `/v1/notifications${query(params)}`);
        showProblem(box, null);
        const tbody = $('list-body');
        for (const n of page.data || []) tbody.append(this.row(n));
        const count = tbody.querySelectorAll('tr[data-id]').length;
        if (count === 0) {
          clear(tbody);
          emptyRow(tbody, 7, 'No notifications match.');
        }
        this.cursor = page.next_cursor || null;
        show(more, Boolean(this.cursor));
        const what = this.filter.status ? `${this.filter.status} notification` : 'notification';
        $('list-summary').textContent =
          `${count} ${what}${count === 1 ? '' : 's'} shown${this.cursor ? '; more are older' : ''}.`;
      } catch (e) {
        showProblem(box, e);
        $('list-summary').textContent = '';
      } finally {
        more.disabled = false;
      }
    },

    row(n) {
      const open = el('button', {
        type: 'button',
        class: 'link id',
        title: n.id,
        'aria-label': `Open notification ${n.id}`,
        'data-id': n.id,
        text: shortId(n.id),
      });
      const tr = el('tr', { 'data-id': n.id, class: 'clickable' },
        el('td', null, open),
        cell(n.channel),
        cell(n.to ?? '(purged)', { class: 'wrap' }),
        cell(badge(n.status)),
        cell(`${n.attempts} / ${n.max_attempts}`, { class: 'num' }),
        cell(n.last_error, { class: 'wrap error-text' }),
        cell(timeEl(n.created_at)),
      );
      return tr;
    },

    async open(id) {
      this.openId = id;
      const section = $('detail');
      show(section, true);
      showProblem($('detail-problem'), null);
      show($('detail-message'), false);
      $('detail-heading').textContent = `Notification ${id}`;
      for (const row of $('list-body').querySelectorAll('tr[data-id]')) {
        row.classList.toggle('selected', row.getAttribute('data-id') === id);
      }
      // The address names the open notification, so it can be shared or reloaded.
      history.replaceState(null, '', `${location.pathname}${location.search}#notification=${encodeURIComponent(id)}`);
      await this.loadDetail();
      $('detail-heading').focus();
    },

    async loadDetail() {
      const id = this.openId;
      if (!id) return;
      try {
        const n = await api('GET', `/v1/notifications/${encodeURIComponent(id)}`);
        if (this.openId === id) this.renderDetail(n);
      } catch (e) {
        showProblem($('detail-problem'), e);
      }
    },

    renderDetail(n) {
      const heading = $('detail-heading');
      clear(heading);
      heading.append(`Notification ${n.id} `, badge(n.status));

      const fields = $('detail-fields');
      clear(fields);
      const add = (dl, label, value) => {
        dl.append(el('dt', { text: label }), el('dd', null, value instanceof Node ? value : textOrDash(value)));
      };
      add(fields, 'ID', el('code', { text: n.id }));
      add(fields, 'Status', badge(n.status));
      add(fields, 'Channel', n.channel);
      add(fields, 'To', n.to ?? '(purged by retention)');
      add(fields, 'Priority', n.priority);
      add(fields, 'Type', n.type);
      add(fields, 'Attempts', `${n.attempts} of ${n.max_attempts}, ${n.retry_interval_secs} s apart`);
      add(fields, 'Last error', n.last_error);
      add(fields, 'Provider', n.provider);
      add(fields, 'Provider message ID', n.provider_message_id);
      add(fields, 'Idempotency key', n.idempotency_key);
      add(fields, 'Workflow', n.workflow && n.workflow.workflow_id ? el('code', { text: n.workflow.workflow_id }) : null);
      add(fields, 'Updated', timeEl(n.updated_at));

      const stamps = $('detail-timestamps');
      clear(stamps);
      const ts = n.timestamps || {};
      for (const status of ['pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'skipped']) {
        if (ts[status]) add(stamps, status, timeEl(ts[status]));
      }

      const attempts = $('detail-attempts');
      clear(attempts);
      const log = n.attempt_log || [];
      for (const a of log) {
        attempts.append(el('tr', null,
          cell(a.attempt, { class: 'num' }),
          cell(a.provider),
          cell(a.provider_type),
          cell(badge(a.outcome)),
          cell(a.error, { class: 'wrap error-text' }),
          cell(a.error_code),
          cell(timeEl(a.started_at)),
          cell(timeEl(a.finished_at)),
        ));
      }
      if (!log.length) emptyRow(attempts, 8, 'No attempts yet.');

      const events = $('detail-events');
      clear(events);
      const timeline = n.events || [];
      for (const e of timeline) {
        events.append(el('tr', null,
          cell(timeEl(e.occurred_at)),
          cell(badge(e.status)),
          cell(e.source),
          cell(e.raw_status),
          cell(e.reason, { class: 'wrap' }),
          cell(e.code),
          cell(timeEl(e.received_at)),
        ));
      }
      if (!timeline.length) emptyRow(events, 7, 'No events yet.');
      if (timeline.length >= 100) {
        events.append(el('tr', null, el('td', {
          colspan: 7, class: 'empty',
          text: `The first 100 events; the rest are at /v1/notifications/${n.id}/events.`,
        })));
      }

      const link = $('detail-workflow');
      const note = $('detail-workflow-note');
      const workflow = n.workflow || {};
      if (isHttpUrl(workflow.ui_url)) {
        link.setAttribute('href', workflow.ui_url);
        link.textContent = 'Open the workflow in Temporal UI';
        link.setAttribute('title', String(workflow.workflow_id));
        show(link, true);
      } else {
        link.removeAttribute('href');
        show(link, false);
      }
      note.textContent = workflow.started === false ? '(its workflow has not been started yet)' : '';
      show(note, workflow.started === false);

      show($('detail-retry'), n.status === 'failed');
      show($('detail-cancel'), n.status === 'pending' || n.status === 'sending');
      this.updateRow(n);
    },

    updateRow(n) {
      const old = $('list-body').querySelector(`tr[data-id="${CSS.escape(String(n.id))}"]`);
      if (old) {
        const fresh = this.row(n);
        fresh.classList.toggle('selected', this.openId === n.id);
        old.replaceWith(fresh);
      }
    },

    async act(action) {
      const id = this.openId;
      if (!id) return;
      const retry = action === 'retry';
      const ok = await confirmAction(
        retry ? 'Retry this notification?' : 'Cancel this notification?',
        retry
          ? `Notification ${id} will be sent again, with its retry rule. Earlier attempts are kept.`
          : `Notification ${id} will not be sent. This cannot be undone.`,
        retry ? 'Retry' : 'Cancel notification',
      );
      if (!ok) return;
      const button = $(retry ? 'detail-retry' : 'detail-cancel');
      button.disabled = true;
      try {
        const n = await api('POST', `/v1/notifications/${encodeURIComponent(id)}/${action}`);
        showProblem($('detail-problem'), null);
        const message = $('detail-message');
        message.textContent = retry ? 'Retried: a new run has started.' : 'Cancelled.';
        show(message, true);
        if (this.openId === id) this.renderDetail(n);
        loaded.delete('audit');
      } catch (e) {
        showProblem($('detail-problem'), e);
      } finally {
        button.disabled = false;
      }
    },

    close() {
      if (this.openId) history.replaceState(null, '', location.pathname + location.search);
      this.openId = null;
      show($('detail'), false);
      for (const row of $('list-body').querySelectorAll('tr.selected')) row.classList.remove('selected');
    },

    setUp() {
      $('list-form').addEventListener('submit', (event) => {
        event.preventDefault();
        loaded.add('notifications');
        this.search();
      });
      $('list-more').addEventListener('click', () => this.page());
      $('list-body').addEventListener('click', (event) => {
        if (event.target.closest('a')) return;
        const row = event.target.closest('tr[data-id]');
        if (row) this.open(row.getAttribute('data-id'));
      });
      $('detail-close').addEventListener('click', () => this.close());
      $('detail-refresh').addEventListener('click', () => this.loadDetail());
      $('detail-retry').addEventListener('click', () => this.act('retry'));
      $('detail-cancel').addEventListener('click', () => this.act('cancel'));
    },
  };

  function isHttpUrl(value) {
    if (typeof value !== 'string') return false;
    try {
      const url = new URL(value, location.href);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch (_) {
      return false;
    }
  }

  // ---- Bulk redrive -------------------------------------------------------------------------

  const redrive = {
    dryRunKey: null,
    matched: 0,

    filter() {
      const body = { dry_run: true };
      const channel = $('redrive-channel').value;
      if (channel) body.channel = channel;
      const since = rfc3339($('redrive-since'));
      if (since) body.since = since;
      const until = rfc3339($('redrive-until'));
      if (until) body.until = until;
      const limit = $('redrive-limit').value.trim();
      if (limit) body.limit = Number(limit);
      return body;
    },

    key(body) {
      return JSON.stringify([body.channel || null, body.since || null, body.until || null, body.limit || null]);
    },

    updateButton() {
      const go = $('redrive-go');
      const ready = this.dryRunKey !== null && this.dryRunKey === this.key(this.filter()) && this.matched > 0;
      go.disabled = !ready;
      go.textContent = ready ? `Redrive ${this.matched}` : 'Redrive';
    },

    showIds(ids) {
      const list = $('redrive-ids');
      clear(list);
      for (const id of ids) list.append(el('li', null, el('code', { text: id })));
    },

    async dryRun() {
      const body = this.filter();
      const button = $('redrive-dry');
      button.disabled = true;
      this.dryRunKey = null;
      this.updateButton();
      try {
        const result = await api('POST', '/v1/notifications/retry', body);
        showProblem($('redrive-problem'), null);
        this.dryRunKey = this.key(body);
        this.matched = result.matched;
        const limited = body.limit && result.matched >= body.limit ? ` (the limit; redrive, then dry-run again for more)` : '';
        $('redrive-result').textContent = result.matched === 0
          ? 'Dry run: no failed notification matches.'
          : `Dry run: ${result.matched} failed notification${result.matched === 1 ? '' : 's'} match${result.matched === 1 ? 'es' : ''}${limited}. Nothing was changed.`;
        this.showIds(result.ids || []);
      } catch (e) {
        showProblem($('redrive-problem'), e);
        $('redrive-result').textContent = '';
        this.showIds([]);
      } finally {
        button.disabled = false;
        this.updateButton();
      }
    },

    async go() {
      const body = this.filter();
      if (this.dryRunKey !== this.key(body)) {
        this.updateButton();
        return;
      }
      const ok = await confirmAction(
        `Redrive ${this.matched} notification${this.matched === 1 ? '' : 's'}?`,
        'Each failed notification that matches the filter now is sent again. Those that failed since the dry run are included.',
        `Redrive ${this.matched}`,
      );
      if (!ok) return;
      body.dry_run = false;
      const go = $('redrive-go');
      go.disabled = true;
      try {
        const result = await api('POST', '/v1/notifications/retry', body);
        showProblem($('redrive-problem'), null);
        $('redrive-result').textContent =
          `Redriven ${result.retried} of ${result.matched} matching failed notification${result.matched === 1 ? '' : 's'}.`;
        this.showIds(result.ids || []);
        loaded.delete('audit');
        loaded.delete('notifications');
      } catch (e) {
        showProblem($('redrive-problem'), e);
      } finally {
        this.dryRunKey = null;
        this.matched = 0;
        this.updateButton();
      }
    },

    setUp() {
      const form = $('redrive-form');
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.dryRun();
      });
      form.addEventListener('input', () => this.updateButton());
      form.addEventListener('change', () => this.updateButton());
      $('redrive-go').addEventListener('click', () => this.go());
    },
  };

  // ---- Audit log ----------------------------------------------------------------------------

  const audit = {
    cursor: null,

    async load(more) {
      const tbody = $('audit-body');
      if (!more) {
        this.cursor = null;
        clear(tbody);
      }
      const button = $('audit-more');
      button.disabled = true;
      try {
        const page = await api('GET', `/v1/audit-log${query({ limit: PAGE_SIZE, cursor: this.cursor })}`);
        showProblem($('audit-problem'), null);
        for (const e of page.data || []) {
          const details = e.details && typeof e.details === 'object' && Object.keys(e.details).length
            ? el('code', { class: 'json', text: JSON.stringify(e.details) })
            : e.details && typeof e.details !== 'object' ? String(e.details) : null;
          tbody.append(el('tr', null,
            cell(timeEl(e.at)),
            cell(e.actor),
            cell(e.action),
            cell(e.target ? el('code', { text: e.target }) : null),
            cell(details, { class: 'wrap' }),
          ));
        }
        if (!tbody.querySelector('tr')) emptyRow(tbody, 5, 'Nothing has been done yet.');
        this.cursor = page.next_cursor || null;
        show(button, Boolean(this.cursor));
      } catch (e) {
        showProblem($('audit-problem'), e);
      } finally {
        button.disabled = false;
      }
    },

    setUp() {
      $('audit-refresh').addEventListener('click', () => {
        loaded.add('audit');
        this.load(false);
      });
      $('audit-more').addEventListener('click', () => this.load(true));
    },
  };

  // ---- Provider accounts --------------------------------------------------------------------

  const providers = {
    async load() {
      const tbody = $('providers-body');
      try {
        const list = await api('GET', '/v1/providers');
        showProblem($('providers-problem'), null);
        clear(tbody);
        for (const p of (list && list.data) || []) {
          tbody.append(el('tr', null,
            cell(p.name),
            cell(p.type),
            cell(p.channel),
            cell(p.priority, { class: 'num' }),
            cell(el('span', { class: p.enabled ? 'badge badge-enabled' : 'badge badge-disabled', text: p.enabled ? 'yes' : 'no' })),
          ));
        }
        if (!tbody.querySelector('tr')) emptyRow(tbody, 5, 'No provider accounts registered for this tenant.');
        // The server's own accounts: what sends a channel this tenant has no account for.
        const servers = $('server-providers-body');
        clear(servers);
        for (const p of (list && list.server_wide) || []) {
          servers.append(el('tr', { 'data-server-account': p.name },
            cell(p.name),
            cell(p.type),
            cell(p.channel),
            cell(el('span', { class: p.in_use ? 'badge badge-enabled' : 'badge badge-disabled', text: p.in_use ? 'sends for this tenant' : 'not used (the tenant has its own)' })),
          ));
        }
        if (!servers.querySelector('tr')) emptyRow(servers, 4, 'No server-wide accounts configured.');
      } catch (e) {
        showProblem($('providers-problem'), e);
      }
    },

    setUp() {
      $('providers-refresh').addEventListener('click', () => {
        loaded.add('providers');
        this.load();
      });
    },
  };

  // ---- Conversations ------------------------------------------------------------------------

  /** A fresh idempotency key, so that a reply sent twice (a retry after a lost answer) goes once. */
  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return `admin-reply-${window.crypto.randomUUID()}`;
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return `admin-reply-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  /** Whether the signed-in operator's access to the chosen tenant includes `scope`. */
  function hasScope(scope) {
    const granted = session && Array.isArray(session.tenants)
      ? session.tenants.find((t) => t.name === tenant)
      : null;
    return Boolean(granted && Array.isArray(granted.scopes) && granted.scopes.includes(scope));
  }

  /** Whether the signed-in operator may act (reply, close, reopen) for the chosen tenant. */
  function mayOperate() {
    return hasScope('operate');
  }

  const conversations = {
    // The open conversation (`ConversationView`), and its id while it loads.
    openId: null,
    current: null,
    // The key of the reply being typed, and the text it was made for.
    replyKey: null,
    replyKeyText: null,

    async load() {
      const tbody = $('conversations-body');
      try {
        const list = await api('GET', `/v1/conversations${query({ limit: PAGE_SIZE })}`);
        showProblem($('conversations-problem'), null);
        clear(tbody);
        for (const c of (list && list.data) || []) tbody.append(this.row(c));
        if (!tbody.querySelector('tr')) emptyRow(tbody, 6, 'No conversations yet.');
      } catch (e) {
        showProblem($('conversations-problem'), e);
      }
    },

    who(c) {
      const contact = c.contact || {};
      return contact.name ? `${contact.name} (${contact.address})` : String(contact.address);
    },

    row(c) {
      const who = this.who(c);
      const open = el('button', {
        type: 'button',
        class: 'link',
        'aria-label': `Open the conversation with ${who}`,
        'data-conversation': c.id,
        text: who,
      });
      const tr = el('tr', { 'data-conversation-row': c.id, class: 'clickable' },
        el('td', { class: 'wrap' }, open),
        cell(c.channel),
        cell(c.provider),
        cell(badge(c.status), { 'data-status': c.status }),
        cell(c.unread, { class: 'num' }),
        cell(timeEl(c.last_message_at)),
      );
      tr.classList.toggle('selected', this.openId === c.id);
      return tr;
    },

    updateRow(c) {
      const old = $('conversations-body').querySelector(`tr[data-conversation-row="${CSS.escape(String(c.id))}"]`);
      if (old) old.replaceWith(this.row(c));
    },

    /** Shows the open conversation's status and the controls the operator may use. */
    render(c) {
      this.current = c;
      $('conversation-heading').textContent = `Conversation with ${this.who(c)}`;
      const status = $('conversation-status');
      clear(status);
      status.append(el('span', { class: 'visually-hidden', text: 'Status: ' }), badge(c.status));
      const allowed = mayOperate();
      const toggle = $('conversation-toggle');
      toggle.textContent = c.status === 'closed' ? 'Reopen conversation' : 'Close conversation';
      show(toggle, allowed);
      show($('reply-form'), allowed);
      show($('conversation-read-only'), !allowed);
      this.updateRow(c);
    },

    messageRow(m) {
      return el('tr', { 'data-message': m.id, 'data-direction': m.direction },
        cell(timeEl(m.occurred_at)),
        cell(m.direction === 'inbound' ? 'from the contact' : 'to the contact'),
        cell(m.type),
        cell(this.text(m), { class: 'wrap' }),
        cell(this.media(m), { class: 'wrap' }),
        cell(m.status ? badge(m.status) : '—'),
      );
    },

    /** A message's text, saying when the contact edited it or deleted it for everyone. */
    text(m) {
      if (m.revoked_at) return el('span', { class: 'muted', 'data-revoked': '', text: 'deleted by the contact' });
      if (!m.edited_at) return m.text;
      return el('span', {}, String(m.text ?? ''), el('span', { class: 'muted', 'data-edited': '', text: ' (edited)' }));
    },

    /**
     * A message's file: a download once stored (`file_id`), "fetching…" while the worker
     * fetches it from the provider, the error when that failed. Older answers name only
     * the provider's file (`media.content_type`, `media.filename`) or nothing.
     */
    media(m) {
      const media = m.media && typeof m.media === 'object' ? m.media : null;
      const fileId = typeof m.file_id === 'string' && m.file_id ? m.file_id : null;
      const status = media && typeof media.status === 'string' ? media.status : null;
      const what = media && (media.filename || media.content_type) ? String(media.filename || media.content_type) : '';
      if (fileId && (status === null || status === 'stored')) {
        return el('button', {
          type: 'button',
          class: 'link',
          'data-file': fileId,
          'aria-label': `Get a download link for ${what || `file ${fileId}`}`,
          text: what ? `Get download link (${what})` : 'Get download link',
        });
      }
      if (status === 'pending') return el('span', { class: 'muted', 'data-media': 'pending', text: 'fetching…' });
      if (status === 'failed') {
        return el('span', {
          class: 'error-text',
          'data-media': 'failed',
          text: `could not be fetched: ${media.error ? String(media.error) : 'no reason given'}`,
        });
      }
      if (status === 'stored') return el('span', { class: 'muted', text: 'stored (no file id given)' });
      if (media) return el('span', { class: 'muted', text: what ? `${what}, at the provider` : 'a file, at the provider' });
      return null;
    },

    /** Swaps a file's button for a link to its presigned URL (`GET /v1/files/{id}`). */
    async download(button) {
      const fileId = button.getAttribute('data-file');
      button.disabled = true;
      try {
        const file = await api('GET', `/v1/files/${encodeURIComponent(fileId)}`);
        if (!file || !isHttpUrl(file.url)) {
          throw new Problem({ title: 'No download link', detail: `the file ${fileId} has no usable URL` });
        }
        const name = file.filename ? String(file.filename) : `file ${fileId}`;
        const link = el('a', {
          href: file.url,
          download: file.filename || true,
          target: '_blank',
          rel: 'noopener noreferrer',
          'data-file-link': fileId,
          text: `Download ${name}`,
        });
        const until = file.url_expires_at
          ? el('span', { class: 'muted' }, ' (link valid until ', timeEl(file.url_expires_at), ')')
          : null;
        const holder = el('span', null, link, until);
        button.replaceWith(holder);
        link.focus();
      } catch (e) {
        showProblem($('conversation-problem'), e);
        button.disabled = false;
      }
    },

    async open(id, who) {
      this.openId = id;
      this.current = null;
      show($('conversation'), true);
      $('conversation-heading').textContent = `Conversation with ${who}`;
      clear($('conversation-messages'));
      show($('conversation-message'), false);
      showProblem($('conversation-problem'), null);
      showProblem($('reply-problem'), null);
      $('reply-text').value = '';
      $('reply-text').removeAttribute('aria-invalid');
      this.replyKey = null;
      this.replyKeyText = null;
      clear($('conversation-status'));
      // Nothing to act on until it is loaded.
      show($('conversation-toggle'), false);
      show($('reply-form'), false);
      show($('conversation-read-only'), false);
      for (const row of $('conversations-body').querySelectorAll('tr[data-conversation-row]')) {
        row.classList.toggle('selected', row.getAttribute('data-conversation-row') === id);
      }
      try {
        const c = await api('GET', `/v1/conversations/${encodeURIComponent(id)}`);
        if (this.openId !== id) return;
        this.render(c);
      } catch (e) {
        if (this.openId === id) showProblem($('conversation-problem'), e);
      }
      await this.loadMessages();
      if (this.openId === id) $('conversation-heading').focus();
    },

    async loadMessages() {
      const id = this.openId;
      if (!id) return;
      const tbody = $('conversation-messages');
      try {
        const page = await api('GET', `/v1/conversations/${encodeURIComponent(id)}/messages${query({ limit: PAGE_SIZE })}`);
        if (this.openId !== id) return;
        clear(tbody);
        for (const m of (page && page.data) || []) tbody.append(this.messageRow(m));
        if (!tbody.querySelector('tr')) emptyRow(tbody, 6, 'No messages.');
      } catch (e) {
        if (this.openId === id) showProblem($('conversation-problem'), e);
      }
    },

    async reply(event) {
      event.preventDefault();
      const id = this.openId;
      if (!id) return;
      const textarea = $('reply-text');
      const box = $('reply-problem');
      const text = textarea.value;
      if (!text.trim()) {
        showProblem(box, new Problem({ title: 'Nothing to send', detail: 'Type the reply first.' }));
        textarea.setAttribute('aria-invalid', 'true');
        textarea.focus();
        return;
      }
      // The same text sent again (after a lost answer) keeps its key: it goes out once.
      if (this.replyKey === null || this.replyKeyText !== text) {
        this.replyKey = newIdempotencyKey();
        this.replyKeyText = text;
      }
      const button = $('reply-send');
      button.disabled = true;
      show($('conversation-message'), false);
      try {
        const accepted = await api('POST', `/v1/conversations/${encodeURIComponent(id)}/messages`, {
          content: { text },
          idempotency_key: this.replyKey,
        });
        if (this.openId !== id) return;
        showProblem(box, null);
        textarea.removeAttribute('aria-invalid');
        textarea.setAttribute('aria-describedby', 'reply-hint');
        textarea.value = '';
        this.replyKey = null;
        this.replyKeyText = null;
        const tbody = $('conversation-messages');
        const message = accepted && accepted.message;
        if (message) {
          const same = tbody.querySelector(`tr[data-message="${CSS.escape(String(message.id))}"]`);
          if (same) same.remove();
          const empty = tbody.querySelector('td.empty');
          if (empty) empty.parentElement.remove();
          tbody.prepend(this.messageRow(message));
        }
        const note = $('conversation-message');
        note.textContent = accepted && accepted.notification_id
          ? `Reply accepted: on its way as notification ${accepted.notification_id}. Refresh to follow its delivery.`
          : 'Reply accepted: on its way.';
        show(note, true);
        loaded.delete('audit');
        // The list's row (its last message) moves too.
        api('GET', `/v1/conversations/${encodeURIComponent(id)}`).then((c) => {
          if (this.openId === id) this.render(c);
          else this.updateRow(c);
        }, () => {});
      } catch (e) {
        if (this.openId !== id) return;
        // The typed text stays, to be changed (or sent as it is) once the problem is solved.
        showProblem(box, e);
        textarea.setAttribute('aria-invalid', 'true');
        textarea.setAttribute('aria-describedby', 'reply-hint reply-problem');
      } finally {
        button.disabled = false;
      }
    },

    async toggle() {
      const c = this.current;
      if (!c) return;
      const id = c.id;
      const next = c.status === 'closed' ? 'open' : 'closed';
      const button = $('conversation-toggle');
      button.disabled = true;
      show($('conversation-message'), false);
      try {
        const updated = await api('PATCH', `/v1/conversations/${encodeURIComponent(id)}`, { status: next });
        showProblem($('conversation-problem'), null);
        if (this.openId === id) this.render(updated);
        else this.updateRow(updated);
        const note = $('conversation-message');
        note.textContent = updated.status === 'closed'
          ? 'Closed. The contact\u2019s next message opens it again.'
          : 'Reopened.';
        show(note, true);
        loaded.delete('audit');
      } catch (e) {
        showProblem($('conversation-problem'), e);
      } finally {
        button.disabled = false;
      }
    },

    close() {
      this.openId = null;
      this.current = null;
      this.replyKey = null;
      this.replyKeyText = null;
      $('reply-text').value = '';
      show($('conversation'), false);
    },

    setUp() {
      $('conversations-refresh').addEventListener('click', () => {
        loaded.add('conversations');
        this.load();
      });
      $('conversations-body').addEventListener('click', (event) => {
        const button = event.target.closest('button[data-conversation]');
        if (button) this.open(button.getAttribute('data-conversation'), button.textContent);
      });
      $('conversation-messages').addEventListener('click', (event) => {
        const button = event.target.closest('button[data-file]');
        if (button) this.download(button);
      });
      $('conversation-refresh').addEventListener('click', () => this.loadMessages());
      $('conversation-toggle').addEventListener('click', () => this.toggle());
      $('reply-form').addEventListener('submit', (event) => this.reply(event));
    },
  };

  // ---- Live events --------------------------------------------------------------------------

  /**
   * The tenant's events as they happen, from `GET /v1/stream/sse`. An `EventSource` cannot
   * send the tenant header, so each connection opens with a short-lived stream token minted
   * through the API with the session. The browser's own reconnection would retry with that
   * token, which expires: on any error the page closes the source and connects again
   * itself, with a new token and `after=` the last cursor it saw, and the server sends what
   * was missed in between.
   */
  const live = {
    MAX_ROWS: 500,
    // Every SSE event is named by its type: a listener per type (`GET /v1/event-types`).
    types: [],
    started: false,
    source: null,
    // Bumped by each connection and by stop(), so a token minted for an older one is dropped.
    generation: 0,
    // Where the next connection resumes: the last event's cursor (or `ready`'s, `closing`'s).
    cursor: null,
    failures: 0,
    retryTimer: null,
    renewTimer: null,
    paused: false,
    // Events that came while paused, oldest first (the newest MAX_ROWS), and how many came.
    held: [],
    heldCount: 0,

    setStatus(state, text) {
      const status = $('live-status');
      status.setAttribute('data-state', state);
      if (status.textContent !== text) status.textContent = text;
    },

    /** Opens the stream the first time the tab is shown (again after a sign-out or a tenant change). */
    start() {
      if (this.started) return;
      this.started = true;
      const tbody = $('live-body');
      clear(tbody);
      emptyRow(tbody, 4, 'No events yet: they appear here as they happen.');
      this.summary();
      this.connect('connecting');
    },

    /** Closes the stream and forgets it: signed out, or another tenant chosen. */
    stop() {
      this.generation += 1;
      this.disconnect();
      this.started = false;
      this.cursor = null;
      this.failures = 0;
      this.held = [];
      this.heldCount = 0;
      this.setPaused(false);
      clear($('live-body'));
      $('live-summary').textContent = '';
      show($('live-note'), false);
      showProblem($('live-problem'), null);
      this.setStatus('idle', 'not connected');
    },

    disconnect() {
      if (this.source) this.source.close();
      this.source = null;
      clearTimeout(this.retryTimer);
      clearTimeout(this.renewTimer);
      this.retryTimer = null;
      this.renewTimer = null;
    },

    async loadTypes() {
      const list = await api('GET', '/v1/event-types');
      const names = Array.isArray(list)
        ? list.filter((t) => t && typeof t.type === 'string')
        : [];
      if (!names.length) throw new Problem({ title: 'No event types', detail: 'GET /v1/event-types listed none' });
      const select = $('live-type');
      const chosen = select.value;
      while (select.options.length > 1) select.remove(1);
      for (const t of names) {
        select.append(el('option', { value: t.type, title: t.description, text: t.type }));
      }
      select.value = names.some((t) => t.type === chosen) ? chosen : '';
      this.types = names.map((t) => t.type);
    },

    /**
     * A new connection, resuming after `this.cursor` when there is one. `state` is what the
     * indicator says meanwhile; null keeps it (a token's planned renewal is not news).
     */
    async connect(state) {
      this.disconnect();
      const generation = ++this.generation;
      if (state) this.setStatus(state, state === 'connecting' ? 'connecting…' : 'reconnecting…');
      if (typeof EventSource !== 'function') {
        this.setStatus('error', 'error: this browser cannot receive server-sent events');
        return;
      }
      let token;
      try {
        if (!this.types.length) await this.loadTypes();
        // No filter in the token: the connection narrows it with `types=`.
        // Only a connection the operator asked for counts as activity; renewals and
        // reconnections are the page's own.
        token = await api('POST', '/v1/stream/tokens', {}, state !== 'connecting');
      } catch (e) {
        // Signed out meanwhile (a 401 ends the session), or superseded: nothing to say.
        if (generation !== this.generation || !session) return;
        showProblem($('live-problem'), e);
        this.retry('error', `error: ${e.message}`);
        return;
      }
      if (generation !== this.generation) return;
      const params = { token: token.token, after: this.cursor, types: $('live-type').value };
      const source = new EventSource(`/v1/stream/sse${query(params)}`);
      this.source = source;
      // Events of a source already closed (queued before close()) are ignored.
      const on = (name, handler) => source.addEventListener(name, (event) => {
        if (this.source === source) handler.call(this, event);
      });
      for (const type of this.types) on(type, this.received);
      on('ready', this.ready);
      on('closing', this.closing);
      on('reset', this.reset);
      on('error', this.failed);
      this.renewBefore(token.expires_at);
    },

    /** Connects again after a delay that grows with each failure in a row (up to 30 s). */
    retry(state, text) {
      this.disconnect();
      this.failures += 1;
      const base = Math.min(30, 2 ** (this.failures - 1));
      // Jitter, so that the pages open on one server do not all come back at once.
      const secs = Math.max(1, Math.round(base * (0.75 + Math.random() / 2)));
      this.setStatus(state, `${text} (trying again in ${secs} s)`);
      this.retryTimer = setTimeout(() => this.connect('reconnecting'), secs * 1000);
    },

    /**
     * A new token and connection a minute before this one's token expires. The server keeps
     * a connection open past its token's expiry; renewing is what ends the stream soon after
     * the session does (signed out elsewhere, operator disabled): the new token is refused.
     */
    renewBefore(expiresAt) {
      const left = Date.parse(expiresAt) - Date.now();
      if (Number.isNaN(left)) return;
      // At most once a minute, however far apart the browser's and the server's clocks are.
      const wait = Math.max(60000, left - 60000);
      this.renewTimer = setTimeout(() => this.connect(null), wait);
    },

    parse(event) {
      try {
        const data = JSON.parse(event.data);
        return data && typeof data === 'object' ? data : {};
      } catch (_) {
        return {};
      }
    },

    received(event) {
      const e = this.parse(event);
      const cursor = e.cursor || event.lastEventId;
      if (cursor) this.cursor = String(cursor);
      if (typeof e.type !== 'string') return;
      if (this.paused) {
        this.held.push(e);
        if (this.held.length > this.MAX_ROWS) this.held.shift();
        this.heldCount += 1;
      } else {
        this.show(e);
      }
      this.summary();
      overview.heard(e);
    },

    /** Caught up with the log: from here on events come as they happen. */
    ready(event) {
      const data = this.parse(event);
      if (data.cursor) this.cursor = String(data.cursor);
      this.failures = 0;
      showProblem($('live-problem'), null);
      this.setStatus('live', 'live');
    },

    /** The server ends the connection (this page read too slowly, or it shuts down). */
    closing(event) {
      const data = this.parse(event);
      if (data.cursor) this.cursor = String(data.cursor);
      if (data.reason === 'too_slow' || data.reason === 'token_expired') {
        // Nothing wrong on the server's side: resume at once (with a new token).
        this.connect(data.reason === 'too_slow' ? 'reconnecting' : null);
      } else {
        this.retry('reconnecting', `reconnecting: the server closed the stream (${data.reason || 'no reason given'})`);
      }
    },

    /** The cursor is older than the log keeps: what the table shows may have gaps. */
    reset() {
      this.disconnect();
      this.cursor = null;
      this.held = [];
      this.heldCount = 0;
      const tbody = $('live-body');
      clear(tbody);
      emptyRow(tbody, 4, 'No events since the reset yet.');
      this.summary();
      const note = $('live-note');
      note.textContent = `Reset at ${formatTime(new Date())}: the events since the last one shown are no longer kept, ` +
        'so the table was cleared. It shows events from now on; reload the other tabs for the current state.';
      show(note, true);
      this.setStatus('reset', 'reset: reconnecting…');
      this.connect(null);
    },

    /**
     * The connection failed or dropped. The browser would retry with the same token (expired,
     * perhaps); close it and connect again with a fresh one instead.
     */
    failed() {
      this.retry(this.failures >= 2 ? 'error' : 'reconnecting',
        this.failures >= 2 ? 'error: the stream cannot be reached' : 'reconnecting: the connection failed');
    },

    show(e) {
      const tbody = $('live-body');
      const empty = tbody.querySelector('td.empty');
      if (empty) empty.parentElement.remove();
      tbody.prepend(this.row(e));
      while (tbody.rows.length > this.MAX_ROWS) tbody.lastElementChild.remove();
    },

    row(e) {
      const data = e.data && typeof e.data === 'object' ? e.data : {};
      const subject = data.notification_id || data.conversation_id || data.message_id;
      return el('tr', { 'data-type': e.type, 'data-cursor': e.cursor, 'data-subject': subject },
        cell(timeEl(e.occurred_at)),
        cell(el('code', { text: e.type })),
        cell(this.subject(e.type, data), { class: 'wrap' }),
        cell(this.change(e.type, data)),
      );
    },

    /** A button that opens a notification or a conversation in its tab. */
    link(kind, id) {
      return el('span', null, `${kind} `, el('button', {
        type: 'button',
        class: 'link id',
        title: id,
        'aria-label': `Open ${kind} ${id}`,
        'data-open': kind,
        'data-open-id': id,
        text: shortId(id),
      }));
    },

    subject(type, data) {
      const holder = el('span');
      const id = (value) => (typeof value === 'string' && value ? value : null);
      if (type.startsWith('notification.') && id(data.notification_id)) {
        holder.append(this.link('notification', data.notification_id));
        if (id(data.fallback_id)) holder.append(', fallback ', this.link('notification', data.fallback_id));
        if (id(data.batch_id)) {
          holder.append(el('span', { class: 'muted', title: data.batch_id, text: `, batch ${shortId(data.batch_id)}` }));
        }
      } else if (id(data.conversation_id)) {
        holder.append(this.link('conversation', data.conversation_id));
        if (id(data.message_id)) {
          holder.append(el('span', { class: 'muted', title: data.message_id, text: `, message ${shortId(data.message_id)}` }));
        }
      } else {
        // A kind of event this page does not know yet: its ids as they came.
        holder.append(el('code', { class: 'json', text: JSON.stringify(data) }));
      }
      return holder;
    },

    change(type, data) {
      if (type === 'message.updated') return data.change;
      if (type === 'message.received') return el('span', { class: 'muted', text: 'new message' });
      return data.status ? badge(data.status) : null;
    },

    summary() {
      const shown = $('live-body').querySelectorAll('tr[data-type]').length;
      const parts = [];
      if (shown) {
        parts.push(`${shown} event${shown === 1 ? '' : 's'} shown${shown >= this.MAX_ROWS ? ' (the newest)' : ''}.`);
      }
      if (this.paused) {
        const n = this.heldCount;
        parts.push(`Paused: ${n} new event${n === 1 ? '' : 's'} not shown yet` +
          `${n > this.MAX_ROWS ? ` (Resume shows the newest ${this.MAX_ROWS})` : ''}.`);
      }
      $('live-summary').textContent = parts.join(' ');
    },

    setPaused(paused) {
      this.paused = paused;
      $('live-pause').textContent = paused ? 'Resume' : 'Pause';
      if (!paused) {
        const held = this.held;
        this.held = [];
        this.heldCount = 0;
        for (const e of held) this.show(e);
      }
    },

    /** Another type chosen: rows of other types go, and the stream resumes with the new filter. */
    filter() {
      const type = $('live-type').value;
      if (type) {
        for (const row of $('live-body').querySelectorAll('tr[data-type]')) {
          if (row.getAttribute('data-type') !== type) row.remove();
        }
        const kept = this.held.filter((e) => e.type === type);
        this.heldCount -= this.held.length - kept.length;
        this.held = kept;
      }
      const tbody = $('live-body');
      if (!tbody.querySelector('tr')) emptyRow(tbody, 4, 'No events of this type yet.');
      this.summary();
      if (this.started) this.connect('connecting');
    },

    setUp() {
      $('live-pause').addEventListener('click', () => {
        this.setPaused(!this.paused);
        this.summary();
      });
      $('live-type').addEventListener('change', () => this.filter());
      $('live-body').addEventListener('click', (event) => {
        const button = event.target.closest('button[data-open]');
        if (!button) return;
        const id = button.getAttribute('data-open-id');
        if (button.getAttribute('data-open') === 'notification') {
          selectTab('notifications', false);
          notifications.open(id);
        } else {
          selectTab('conversations', false);
          conversations.open(id, `conversation ${shortId(id)}`);
        }
      });
    },
  };

  // ---- Webhooks -----------------------------------------------------------------------------

  /** A `datetime-local` value (local time, to the second) for `date`. */
  function localInput(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  const NEEDS_MANAGE = 'Needs an API key with `manage`: an operator\u2019s session has `read` and `operate` only.';
  const NEEDS_OPERATE = 'Needs `operate` for this tenant, which your access does not include.';

  /**
   * The tenant's webhook endpoints (`/v1/webhook-endpoints`), their health, and an open
   * endpoint's attempts. Reading needs `read`. Repairing deliveries (a test event, recover,
   * resend: buttons marked `data-operate`) needs `operate`, which an operator's session
   * holds; changing the endpoint (enable, disable, rotate the secret: `data-manage`) needs
   * `manage`, which a session does not hold (`auth::OPERATOR_SCOPES`). Each button is
   * enabled only where the session's scopes for the tenant include its scope, and the tab
   * says why the others are disabled.
   */
  // ---- Overview -----------------------------------------------------------------------------

  const SVG = 'http://www.w3.org/2000/svg';
  // One colour per channel, in the order the series come.
  const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#4b5563', '#db2777'];

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`;
  }

  function millis(ms) {
    if (ms === null || ms === undefined) return '—';
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  const overview = {
    // `background`: a refresh the page makes by itself (an event came), not the operator.
    async load(background) {
      try {
        // The 24 hours up to the end of this one, so that bars and labels fall on hours.
        const to = new Date();
        to.setUTCMinutes(60, 0, 0);
        const from = new Date(to.getTime() - 24 * 3600000);
        const range = { interval: 'hour', from: from.toISOString(), to: to.toISOString() };
        const [report, byProvider, byFailure] = await Promise.all(
          ['channel', 'provider', 'failure'].map((group_by) =>
            api('GET', `/v1/analytics${query({ ...range, group_by })}`, undefined, background)),
        );
        showProblem($('overview-problem'), null);
        this.table(report.series || []);
        this.chart(report);
        this.providers(byProvider.series || []);
        this.failures(byFailure.series || []);
        // Live from here on: the tenant's events refresh the figures (the Live tab's stream).
        live.start();
      } catch (e) {
        showProblem($('overview-problem'), e);
      }
    },

    // A pending refresh: events coming in a burst refresh the figures once.
    refreshTimer: null,

    /** An event of the stream: the figures are loaded again soon when this tab is shown. */
    heard(event) {
      if (currentTab !== 'overview' || this.refreshTimer) return;
      if (!String(event.type).startsWith('notification.')) return;
      this.refreshTimer = setTimeout(() => {
        this.refreshTimer = null;
        if (currentTab === 'overview' && session) this.load(true);
      }, 1500);
    },

    // Why notifications failed, the commonest first (the ten commonest).
    failures(series) {
      const tbody = $('overview-failures-body');
      clear(tbody);
      const reasons = series
        .filter((s) => s.group && s.totals.failed > 0)
        .sort((a, b) => b.totals.failed - a.totals.failed)
        .slice(0, 10);
      if (!reasons.length) {
        emptyRow(tbody, 2, 'No failures in the last 24 hours.');
        return;
      }
      for (const s of reasons) {
        tbody.append(el('tr', { 'data-failure-row': '' }, cell(s.group), cell(s.totals.failed)));
      }
    },

    // Each provider's sends: its health at a glance.
    providers(series) {
      const tbody = $('overview-providers-body');
      clear(tbody);
      const used = series.filter((s) => s.group);
      if (!used.length) {
        emptyRow(tbody, 7, 'No provider has sent anything in the last 24 hours.');
        return;
      }
      for (const s of used) {
        const t = s.totals;
        tbody.append(el('tr', { 'data-provider-row': s.group },
          cell(s.group), cell(t.sent), cell(t.delivered), cell(t.failed),
          cell(percent(s.rates.delivery)), cell(percent(s.rates.failure)),
          cell(millis(s.time_to_send_ms.p99))));
      }
    },

    table(series) {
      const tbody = $('overview-body');
      clear(tbody);
      if (!series.length) {
        emptyRow(tbody, 9, 'No notifications in the last 24 hours.');
        return;
      }
      for (const s of series) {
        const t = s.totals;
        const channel = s.group || '—';
        tbody.append(el('tr', { 'data-overview-row': channel },
          cell(channel), cell(t.accepted), cell(t.sent), cell(t.delivered), cell(t.read), cell(t.failed),
          cell(percent(s.rates.delivery)), cell(percent(s.rates.failure)),
          cell(`${millis(s.time_to_send_ms.p50)} / ${millis(s.time_to_send_ms.p99)}`)));
      }
    },

    // Stacked bars: one per hour of the range, one colour per channel.
    chart(report) {
      const chart = $('overview-chart');
      for (const node of [...chart.childNodes]) if (node.nodeName !== 'title') node.remove();
      const legend = $('overview-legend');
      clear(legend);
      const width = 720, height = 240, left = 40, bottom = 20, top = 10;
      const from = Date.parse(report.from), hours = 24, slot = (width - left) / hours;
      const stacks = Array.from({ length: hours }, () => []);
      (report.series || []).forEach((s, i) => {
        const colour = PALETTE[i % PALETTE.length];
        for (const b of s.buckets) {
          const at = Math.floor((Date.parse(b.start) - from) / 3600000);
          const index = Math.min(Math.max(at, 0), hours - 1);
          stacks[index].push({ channel: s.group || '—', count: b.accepted, colour, start: b.start });
        }
        // An SVG swatch: the page's CSP allows no inline styles.
        legend.append(el('span', { class: 'legend-item', 'data-legend': s.group || '—' },
          svg('svg', { width: 12, height: 12, 'aria-hidden': 'true' }, svg('rect', { width: 12, height: 12, fill: colour })),
          ` ${s.group || '—'} `));
      });
      const most = Math.max(1, ...stacks.map((stack) => stack.reduce((sum, b) => sum + b.count, 0)));
      const scale = (height - bottom - top) / most;
      chart.append(svg('line', { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: '#9ca3af' }));
      chart.append(svg('text', { x: left - 6, y: top + 10, 'text-anchor': 'end', 'font-size': 11 }, most));
      chart.append(svg('text', { x: left - 6, y: height - bottom, 'text-anchor': 'end', 'font-size': 11 }, 0));
      stacks.forEach((stack, hour) => {
        let y = height - bottom;
        for (const b of stack) {
          const h = b.count * scale;
          y -= h;
          chart.append(svg('rect', {
            x: left + hour * slot + 1, y, width: Math.max(slot - 2, 1), height: h, fill: b.colour,
            'data-channel': b.channel, 'data-count': b.count,
          }, svg('title', {}, `${b.channel}: ${b.count} at ${b.start}`)));
        }
        if (hour % 6 === 0) {
          // Every six hours, the local time the bar starts.
          const label = new Date(from + hour * 3600000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
          chart.append(svg('text', { x: left + hour * slot, y: height - 4, 'font-size': 11 }, label));
        }
      });
    },

    setUp() {
      $('overview-refresh').addEventListener('click', () => {
        loaded.add('overview');
        this.load();
      });
    },
  };

  const webhooks = {
    // The endpoints list's next page.
    cursor: null,
    // The open endpoint (`EndpointView`), and its id while it loads.
    openId: null,
    current: null,
    // The attempts' next page, and a counter that drops the answer of a superseded load.
    attemptsCursor: null,
    attemptsGeneration: 0,
    types: [],
    // After a repair: the timer reloading the endpoint and its attempts, and a counter that
    // stops a superseded follow.
    followTimer: null,
    followGeneration: 0,

    async load(more) {
      const tbody = $('webhooks-body');
      const button = $('webhooks-more');
      button.disabled = true;
      try {
        const page = await api('GET', `/v1/webhook-endpoints${query({ limit: PAGE_SIZE, cursor: more ? this.cursor : null })}`);
        showProblem($('webhooks-problem'), null);
        if (!more) clear(tbody);
        for (const e of (page && page.data) || []) tbody.append(this.row(e));
        const count = tbody.querySelectorAll('tr[data-endpoint-row]').length;
        if (!count) {
          clear(tbody);
          emptyRow(tbody, 11, 'No webhook endpoints: they are created through the API (POST /v1/webhook-endpoints).');
        }
        this.cursor = (page && page.next_cursor) || null;
        show(button, Boolean(this.cursor));
        $('webhooks-summary').textContent = count
          ? `${count} endpoint${count === 1 ? '' : 's'} shown${this.cursor ? '; more follow' : ''}.`
          : '';
      } catch (e) {
        showProblem($('webhooks-problem'), e);
      } finally {
        button.disabled = false;
      }
    },

    /** Enabled (and paused, while its circuit breaker waits), or disabled and why. */
    state(e) {
      const health = e.health || {};
      const holder = el('span');
      if (e.enabled) {
        holder.append(el('span', { class: 'badge badge-enabled', text: 'enabled' }));
        const paused = health.paused_until && Date.parse(health.paused_until) > Date.now();
        if (paused) holder.append(' ', el('span', { class: 'badge badge-paused', text: 'paused' }));
      } else {
        holder.append(el('span', { class: 'badge badge-disabled', text: 'disabled' }));
        if (e.disabled_reason) {
          holder.append(' ', el('span', { class: 'muted', 'data-disabled-reason': '', text: e.disabled_reason }));
        }
      }
      return holder;
    },

    /** A filter list; empty means every one. */
    list(values, all) {
      return Array.isArray(values) && values.length
        ? values.map(String).join(', ')
        : el('span', { class: 'muted', text: all });
    },

    row(e) {
      const health = e.health || {};
      const open = el('button', {
        type: 'button',
        class: 'link',
        'aria-label': `Open the endpoint ${e.url}`,
        'data-endpoint': e.id,
        text: e.url,
      });
      const tr = el('tr', { 'data-endpoint-row': e.id, 'data-enabled': String(Boolean(e.enabled)), class: 'clickable' },
        el('td', { class: 'wrap' }, open),
        cell(e.description, { class: 'wrap' }),
        cell(this.state(e), { class: 'wrap' }),
        cell(e.ordered ? 'yes' : 'no'),
        cell(this.list(e.event_types, 'all'), { class: 'wrap' }),
        cell(health.succeeded, { class: 'num', 'data-health': 'succeeded' }),
        cell(health.failed, { class: 'num', 'data-health': 'failed' }),
        cell(health.pending, { class: 'num', 'data-health': 'pending' }),
        cell(health.consecutive_failures, { class: 'num', 'data-health': 'consecutive_failures' }),
        cell(health.last_error, { class: 'wrap error-text', 'data-health': 'last_error' }),
        cell(timeEl(health.paused_until)),
      );
      tr.classList.toggle('selected', this.openId === e.id);
      return tr;
    },

    updateRow(e) {
      const old = $('webhooks-body').querySelector(`tr[data-endpoint-row="${CSS.escape(String(e.id))}"]`);
      if (old) old.replaceWith(this.row(e));
    },

    /** The scope a change button needs: `operate` for repairs, `manage` for the rest. */
    scopeOf(button) {
      return button.hasAttribute('data-operate') ? 'operate' : 'manage';
    },

    /**
     * Enables the buttons that need `manage` (`data-manage`) or `operate` (`data-operate`)
     * only if the tenant's scopes include it; the others are disabled, saying why.
     */
    gate(root) {
      const within = root || $('webhook');
      for (const [attribute, needed, why] of [['data-manage', 'manage', NEEDS_MANAGE], ['data-operate', 'operate', NEEDS_OPERATE]]) {
        const allowed = hasScope(needed);
        for (const button of within.querySelectorAll(`button[${attribute}]`)) {
          button.disabled = !allowed;
          if (allowed) button.removeAttribute('title');
          else button.setAttribute('title', why);
        }
      }
      show($('webhook-read-only'), !hasScope('manage'));
      show($('webhook-no-operate'), !hasScope('operate'));
    },

    message(text) {
      const note = $('webhook-message');
      note.textContent = text;
      show(note, Boolean(text));
    },

    hideSecret() {
      $('webhook-secret-value').textContent = '';
      clear($('webhook-secret-until'));
      show($('webhook-secret'), false);
    },

    async open(id) {
      this.stopFollowing();
      this.openId = id;
      this.current = null;
      show($('webhook'), true);
      showProblem($('webhook-problem'), null);
      this.message('');
      this.hideSecret();
      $('webhook-heading').textContent = 'Endpoint';
      clear($('webhook-fields'));
      clear($('webhook-attempts'));
      $('webhook-attempts-summary').textContent = '';
      $('webhook-attempts-status').value = '';
      $('webhook-recover-since').value = localInput(new Date(Date.now() - 24 * 3600 * 1000));
      $('webhook-recover-until').value = '';
      for (const row of $('webhooks-body').querySelectorAll('tr[data-endpoint-row]')) {
        row.classList.toggle('selected', row.getAttribute('data-endpoint-row') === id);
      }
      this.gate();
      await Promise.all([this.loadEndpoint(), this.loadAttempts(false), this.loadTypes()]);
      if (this.openId === id) $('webhook-heading').focus();
    },

    async loadEndpoint() {
      const id = this.openId;
      if (!id) return;
      try {
        const e = await api('GET', `/v1/webhook-endpoints/${encodeURIComponent(id)}`);
        if (this.openId === id) this.render(e);
      } catch (e) {
        if (this.openId === id) showProblem($('webhook-problem'), e);
      }
    },

    render(e) {
      this.current = e;
      const heading = $('webhook-heading');
      clear(heading);
      heading.append(`Endpoint ${e.url} `, this.state(e));
      const health = e.health || {};
      const fields = $('webhook-fields');
      clear(fields);
      const add = (label, value, key) => {
        fields.append(el('dt', { text: label }),
          el('dd', { 'data-field': key }, value instanceof Node ? value : textOrDash(value)));
      };
      add('ID', el('code', { text: e.id }), 'id');
      add('URL', e.url, 'url');
      add('Description', e.description, 'description');
      add('State', this.state(e), 'state');
      if (!e.enabled) add('Disabled', timeEl(e.disabled_at), 'disabled_at');
      add('Ordered', e.ordered ? 'yes: one event at a time, in log order' : 'no', 'ordered');
      add('Event types', this.list(e.event_types, 'all'), 'event_types');
      add('Channels', this.list(e.channels, 'all'), 'channels');
      const headers = e.headers && typeof e.headers === 'object' ? Object.keys(e.headers) : [];
      add('Custom headers', headers.length ? `${headers.join(', ')} (values hidden)` : null, 'headers');
      add('Retry schedule', Array.isArray(e.retry_schedule_secs)
        ? `${e.retry_schedule_secs.join(', ')} s`
        : el('span', { class: 'muted', text: 'the server\u2019s' }), 'retry_schedule_secs');
      add('Deliveries', `${health.succeeded ?? 0} succeeded, ${health.failed ?? 0} failed, ${health.pending ?? 0} pending`, 'deliveries');
      add('Failures in a row', health.consecutive_failures, 'consecutive_failures');
      add('Failing since', timeEl(health.failing_since), 'failing_since');
      add('Paused until', timeEl(health.paused_until), 'paused_until');
      add('Last success', timeEl(health.last_success_at), 'last_success_at');
      add('Last failure', timeEl(health.last_failure_at), 'last_failure_at');
      add('Last error', health.last_error ? el('span', { class: 'error-text', text: health.last_error }) : null, 'last_error');
      add('Created', timeEl(e.created_at), 'created_at');
      $('webhook-toggle').textContent = e.enabled ? 'Disable endpoint' : 'Enable endpoint';
      this.updateRow(e);
      this.gate();
    },

    /** The event types a test event may be (`GET /v1/event-types`), once. */
    async loadTypes() {
      const select = $('webhook-test-type');
      if (this.types.length) return;
      try {
        const list = await api('GET', '/v1/event-types');
        this.types = Array.isArray(list) ? list.filter((t) => t && typeof t.type === 'string') : [];
        clear(select);
        for (const t of this.types) {
          select.append(el('option', { value: t.type, title: t.description, text: t.type }));
        }
      } catch (e) {
        showProblem($('webhook-problem'), e);
      }
    },

    async loadAttempts(more) {
      const id = this.openId;
      if (!id) return;
      const tbody = $('webhook-attempts');
      const button = $('webhook-attempts-more');
      const status = $('webhook-attempts-status').value;
      const generation = ++this.attemptsGeneration;
      button.disabled = true;
      try {
        const params = { status, limit: ATTEMPTS_PAGE_SIZE, cursor: more ? this.attemptsCursor : null };
        const page = await api('GET', `/v1/webhook-endpoints/${encodeURIComponent(id)}/attempts${query(params)}`);
        if (this.openId !== id || generation !== this.attemptsGeneration) return;
        if (!more) clear(tbody);
        const empty = tbody.querySelector('td.empty');
        if (empty) empty.parentElement.remove();
        for (const a of (page && page.data) || []) tbody.append(this.attemptRow(a));
        const count = tbody.querySelectorAll('tr[data-attempt]').length;
        if (!count) emptyRow(tbody, 9, status ? `No ${status} attempts.` : 'No attempts yet.');
        this.attemptsCursor = (page && page.next_cursor) || null;
        show(button, Boolean(this.attemptsCursor));
        $('webhook-attempts-summary').textContent = count
          ? `${count} ${status ? `${status} ` : ''}attempt${count === 1 ? '' : 's'} shown, newest first${this.attemptsCursor ? '; Load more shows older ones' : ''}.`
          : '';
        this.gate(tbody);
      } catch (e) {
        if (this.openId === id) showProblem($('webhook-problem'), e);
      } finally {
        button.disabled = false;
      }
    },

    attemptRow(a) {
      const failed = !a.succeeded;
      // A failed attempt of a real event can be sent again to this endpoint; a test one cannot.
      const resend = failed && a.event_id
        ? el('button', {
          type: 'button',
          class: 'secondary',
          'data-operate': true,
          'data-resend': a.event_id,
          'aria-label': `Resend event ${a.event_id} to this endpoint`,
          text: 'Resend',
        })
        : null;
      return el('tr', { 'data-attempt': a.id, 'data-event': a.event_id, 'data-outcome': failed ? 'failed' : 'succeeded' },
        cell(timeEl(a.attempted_at)),
        cell(a.event_id ? el('code', { text: a.event_id }) : el('span', { class: 'muted', text: 'test event' })),
        cell(a.attempt, { class: 'num' }),
        cell(el('span', { class: `badge badge-${failed ? 'failed' : 'succeeded'}`, text: failed ? 'failed' : 'succeeded' })),
        cell(a.status_code, { class: 'num', 'data-status-code': a.status_code }),
        cell(a.duration_ms === undefined || a.duration_ms === null ? null : `${a.duration_ms} ms`, { class: 'num' }),
        cell(a.error, { class: 'wrap error-text' }),
        // The receiver's answer, as text: whatever it holds is never markup here.
        cell(a.response ? el('code', { class: 'excerpt', 'data-response': '', text: a.response }) : null, { class: 'wrap' }),
        cell(resend),
      );
    },

    /**
     * Runs a change of the open endpoint (`manage`) or a repair of its deliveries
     * (`operate`), showing its outcome or its problem.
     */
    async change(button, work) {
      const id = this.openId;
      if (!id) return;
      button.disabled = true;
      this.message('');
      try {
        await work(id);
        if (this.openId === id) showProblem($('webhook-problem'), null);
        loaded.delete('audit');
      } catch (e) {
        if (this.openId === id) showProblem($('webhook-problem'), e);
      } finally {
        button.disabled = !hasScope(this.scopeOf(button));
      }
    },

    stopFollowing() {
      this.followGeneration += 1;
      clearTimeout(this.followTimer);
      this.followTimer = null;
    },

    /**
     * After a repair made deliveries: the endpoint and its attempts again, at once and then
     * each second while the endpoint has deliveries pending (for at most a minute), so that
     * the new attempts show as they are made. The attempts are loaded after the endpoint,
     * so the load after the last pending one settled lists its attempt.
     */
    follow() {
      this.stopFollowing();
      const id = this.openId;
      const generation = this.followGeneration;
      let rounds = 0;
      const current = () => this.openId === id && this.followGeneration === generation;
      const step = async () => {
        this.followTimer = null;
        if (!current()) return;
        await this.loadEndpoint();
        await this.loadAttempts(false);
        if (!current()) return;
        const health = (this.current && this.current.health) || {};
        rounds += 1;
        if (Number(health.pending) > 0 && rounds < 60) this.followTimer = setTimeout(step, 1000);
      };
      step();
    },

    async toggle() {
      const e = this.current;
      if (!e) return;
      const enable = !e.enabled;
      const ok = await confirmAction(
        enable ? 'Enable this endpoint?' : 'Disable this endpoint?',
        enable
          ? `${e.url} receives events again, its failures cleared. What it missed meanwhile is sent only by Recover.`
          : `${e.url} receives no events until it is enabled again.`,
        enable ? 'Enable' : 'Disable',
      );
      if (!ok) return;
      await this.change($('webhook-toggle'), async (id) => {
        const updated = await api('PATCH', `/v1/webhook-endpoints/${encodeURIComponent(id)}`, { enabled: enable });
        if (this.openId === id) this.render(updated);
        else this.updateRow(updated);
        this.message(enable ? 'Enabled. Recover sends what it missed while disabled.' : 'Disabled.');
      });
    },

    async rotate() {
      const e = this.current;
      if (!e) return;
      const ok = await confirmAction(
        'Rotate the signing secret?',
        `A new secret signs the deliveries to ${e.url} from now on; the current one signs beside it for a while, so the receiver can switch without losing any. The new secret is shown once.`,
        'Rotate secret',
      );
      if (!ok) return;
      await this.change($('webhook-rotate'), async (id) => {
        const rotated = await api('POST', `/v1/webhook-endpoints/${encodeURIComponent(id)}/secret/rotate`, {});
        if (this.openId !== id) return;
        $('webhook-secret-value').textContent = String(rotated.secret);
        const until = $('webhook-secret-until');
        clear(until);
        until.append(timeEl(rotated.previous_secret_until));
        show($('webhook-secret'), true);
      });
    },

    async sendTest(event) {
      event.preventDefault();
      const type = $('webhook-test-type').value;
      if (!type) {
        showProblem($('webhook-problem'), new Problem({ title: 'No event type', detail: 'Choose the type of the test event.' }));
        return;
      }
      await this.change($('webhook-test-send'), async (id) => {
        const made = await api('POST', `/v1/webhook-endpoints/${encodeURIComponent(id)}/test`, { event_type: type });
        if (this.openId !== id) return;
        this.message(`Test event (${type}) sent as delivery ${made && made.delivery_id}; its attempt shows below once made.`);
        this.follow();
      });
    },

    async recover(event) {
      event.preventDefault();
      const since = rfc3339($('webhook-recover-since'));
      const until = rfc3339($('webhook-recover-until'));
      if (!since) {
        showProblem($('webhook-problem'), new Problem({ title: 'No start', detail: 'Say since when to recover failed deliveries.' }));
        return;
      }
      const e = this.current;
      const ok = await confirmAction(
        'Recover failed deliveries?',
        `Every event whose delivery to ${e ? e.url : 'this endpoint'} failed from ${formatTime(new Date(since))} ` +
          `until ${until ? formatTime(new Date(until)) : 'now'} (and has not succeeded since) is delivered again.`,
        'Recover',
      );
      if (!ok) return;
      const body = { since };
      if (until) body.until = until;
      await this.change($('webhook-recover'), async (id) => {
        const made = await api('POST', `/v1/webhook-endpoints/${encodeURIComponent(id)}/recover`, body);
        const n = made ? Number(made.deliveries) || 0 : 0;
        if (this.openId !== id) return;
        this.message(n
          ? `Recovered: ${n} failed deliver${n === 1 ? 'y' : 'ies'} made again; their attempts show below as they are made.`
          : 'Recovered: no failed delivery in that window, so none was made.');
        this.follow();
      });
    },

    async resend(button) {
      const eventId = button.getAttribute('data-resend');
      const ok = await confirmAction(
        'Resend this event?',
        `Event ${eventId} goes to this endpoint again, with its id and body unchanged.`,
        'Resend',
      );
      if (!ok) return;
      await this.change(button, async (id) => {
        const made = await api('POST', `/v1/events/${encodeURIComponent(eventId)}/resend`, { endpoint_id: id });
        const ids = made && Array.isArray(made.deliveries) ? made.deliveries.map((d) => d && d.delivery_id) : [];
        const n = ids.length;
        if (this.openId !== id) return;
        this.message(`Event ${eventId} resent: ${n} deliver${n === 1 ? 'y' : 'ies'} made` +
          `${n ? ` (${ids.join(', ')})` : ''}; the attempts show below as they are made.`);
        this.follow();
      });
    },

    close() {
      this.stopFollowing();
      this.openId = null;
      this.current = null;
      this.attemptsCursor = null;
      this.attemptsGeneration += 1;
      this.hideSecret();
      show($('webhook'), false);
      for (const row of $('webhooks-body').querySelectorAll('tr.selected')) row.classList.remove('selected');
    },

    setUp() {
      $('webhooks-refresh').addEventListener('click', () => {
        loaded.add('webhooks');
        this.load(false);
      });
      $('webhooks-more').addEventListener('click', () => this.load(true));
      $('webhooks-body').addEventListener('click', (event) => {
        const row = event.target.closest('tr[data-endpoint-row]');
        if (row) this.open(row.getAttribute('data-endpoint-row'));
      });
      $('webhook-close').addEventListener('click', () => this.close());
      $('webhook-refresh').addEventListener('click', () => {
        this.loadEndpoint();
        this.loadAttempts(false);
      });
      $('webhook-toggle').addEventListener('click', () => this.toggle());
      $('webhook-rotate').addEventListener('click', () => this.rotate());
      $('webhook-test-form').addEventListener('submit', (event) => this.sendTest(event));
      $('webhook-recover-form').addEventListener('submit', (event) => this.recover(event));
      $('webhook-attempts-status').addEventListener('change', () => this.loadAttempts(false));
      $('webhook-attempts-more').addEventListener('click', () => this.loadAttempts(true));
      $('webhook-attempts').addEventListener('click', (event) => {
        const button = event.target.closest('button[data-resend]');
        if (button) this.resend(button);
      });
    },
  };

  // ---- Start --------------------------------------------------------------------------------

  function start() {
    for (const select of document.querySelectorAll('select.channel-select')) {
      for (const channel of CHANNELS) select.append(el('option', { value: channel, text: channel }));
    }
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', signOut);
    $('session-tenant').addEventListener('change', (event) => {
      tenant = event.target.value;
      storeTenant(tenant);
      const streaming = live.started;
      resetSections();
      loadTab(currentTab);
      // The stream follows the new tenant even while another tab is shown.
      if (streaming && !loaded.has('live')) loadTab('live');
    });

    setUpTabs();
    notifications.setUp();
    redrive.setUp();
    audit.setUp();
    providers.setUp();
    conversations.setUp();
    live.setUp();
    webhooks.setUp();
    overview.setUp();
    // `#tab=<name>` opens that section; `#notification=<id>` opens that notification.
    const params = new URLSearchParams(location.hash.slice(1));
    const tab = params.get('tab');
    const wanted = params.get('notification');
    // Signed in already (the cookie is sent, but only the server can tell)?
    request('GET', SESSION_PATH).then(signedIn, () => signedIn(null)).then(() => {
      selectTab(TABS.includes(tab) ? tab : 'notifications', false);
      if (wanted && currentTab === 'notifications' && session) notifications.open(wanted);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
