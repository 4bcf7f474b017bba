// The slo-host dashboard: a list of objectives and a page per objective, read through the same
// HTTP API as any other caller (so the token's rules decide what it sees and may change), kept
// live by the server's event stream. Charts are drawn by uPlot; this file only shapes data.
'use strict';

(() => {
  const TOKEN_KEY = 'slo-host.token';
  const DAY_MS = 86400000;
  const LOOKBACKS = ['5m', '30m', '1h', '6h', '3d'];
  const KIND_COLOURS = {
    self: ['#c62828', 'rgba(198,40,40,0.55)'],
    upstream: ['#ef6c00', 'rgba(239,108,0,0.55)'],
    incident: ['#6a1b9a', 'rgba(106,27,154,0.55)'],
    maintenance: ['#90a4ae', 'rgba(144,164,174,0.35)'],
  };

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    names: new Map(),
    sort: { key: 'system', dir: 1 },
    filter: '',
    rows: [],
    charts: {},
    renders: 0,
    refreshTimer: null,
    rendering: null,
    live: null,
  };

  // What tests and curious users may read: the charts as drawn and the render count.
  window.sloDashboard = {
    get charts() {
      return state.charts;
    },
    get renders() {
      return state.renders;
    },
  };

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const number = (value, digits) =>
    value === null || value === undefined ? '—' : Number(value).toFixed(digits);
  const percent = (value, digits) =>
    value === null || value === undefined ? '—' : `${number(value, digits)} %`;
  const rawValue = (value) => (value === null || value === undefined ? '' : String(value));
  const modeName = (mode) => (mode === 'self-only' ? 'self-only' : 'strict');
  const systemName = (id) => state.names.get(id) || id;

  function duration(ms) {
    const minutes = Math.round(ms / 60000);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`;
    return `${(hours / 24).toFixed(1)} d`;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'open');

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function request(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    if (!response.ok) {
      const error = (json && json.error) || {};
      if (response.status === 401) signOut(error.message || 'the token was refused');
      throw new ApiError(
        response.status,
        error.code || 'http',
        error.message || `${response.status} ${response.statusText}`,
      );
    }
    return json;
  }

  const rpc = (procedure, input) => request('POST', `/rpc/${procedure}`, input || {});

  // System names come from the catalog; without `catalog.read` the page shows ids.
  async function loadNames() {
    try {
      const catalog = await request('GET', '/catalog/systems');
      state.names = new Map(catalog.systems.map((s) => [s.id, s.name]));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 403) throw error;
    }
  }

  function showProblem(error) {
    const box = document.getElementById('problem');
    if (!error) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.hidden = false;
    box.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  }

  // ---------------------------------------------------------------- sign in and out

  function signOut(reason) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.live) state.live.abort();
    document.getElementById('app').replaceChildren();
    document.getElementById('sign-in').hidden = false;
    document.getElementById('sign-out').hidden = true;
    setLive('off');
    showProblem(reason ? new ApiError(401, 'unauthorized', reason) : null);
  }

  function signIn(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    document.getElementById('sign-in').hidden = true;
    document.getElementById('sign-out').hidden = false;
    showProblem(null);
    listen();
    render();
  }

  // ---------------------------------------------------------------- routing

  function route() {
    const match = /^#\/objective\/(.+)$/.exec(location.hash);
    return match ? { page: 'objective', id: decodeURIComponent(match[1]) } : { page: 'list' };
  }

  async function render() {
    if (!state.token) return;
    if (state.rendering) {
      state.rendering.again = true;
      return;
    }
    state.rendering = { again: false };
    try {
      const where = route();
      const page = where.page === 'objective' ? await objectivePage(where.id) : await listPage();
      destroyCharts();
      document.getElementById('app').replaceChildren(page.node);
      if (page.draw) page.draw();
      state.renders += 1;
      document.body.dataset.renders = String(state.renders);
      showProblem(null);
    } catch (error) {
      if (state.token) showProblem(error);
    } finally {
      const again = state.rendering.again;
      state.rendering = null;
      if (again) render();
    }
  }

  function destroyCharts() {
    for (const chart of Object.values(state.charts)) chart.destroy();
    state.charts = {};
  }

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(render, 150);
  }

  // ---------------------------------------------------------------- the list page

  const COLUMNS = [
    { key: 'system', label: 'System', numeric: false },
    { key: 'target', label: 'Target', numeric: true },
    { key: 'windowDays', label: 'Window', numeric: true },
    { key: 'mode', label: 'Mode', numeric: false },
    { key: 'availability', label: 'Availability', numeric: true },
    { key: 'budget', label: 'Budget left', numeric: true },
    { key: 'state', label: 'Budget state', numeric: false },
    { key: 'alert', label: 'Burn alert', numeric: false },
    { key: 'streak', label: 'Streak', numeric: true },
  ];

  async function listPage() {
    const [list, streaks] = await Promise.all([rpc('listObjectives'), rpc('getStreaks'), loadNames()]);
    const streakOf = new Map(streaks.streaks.map((s) => [s.objectiveId, s]));
    state.rows = list.objectives.map(({ objective, status }) => ({
      id: objective.id,
      systemId: objective.systemId,
      system: systemName(objective.systemId),
      target: objective.target,
      windowDays: objective.windowDays,
      mode: modeName(status.dependencyExclusion),
      availability: status.currentAvailability,
      budget: status.errorBudgetRemainingPercent,
      state: status.budgetState,
      alert: status.burnAlert,
      streak: streakOf.has(objective.id) ? streakOf.get(objective.id).currentStreak : 0,
    }));
    const filter = el('input', {
      id: 'filter',
      type: 'search',
      placeholder: 'Filter by system',
      value: state.filter,
      'aria-label': 'Filter by system',
      oninput: (event) => {
        state.filter = event.target.value;
        redrawTable();
      },
    });
    const node = el(
      'section',
      { class: 'list' },
      el('div', { class: 'list-head' }, el('h1', {}, 'Objectives'), filter),
      listTable(),
    );
    return { node };
  }

  function listTable() {
    const needle = state.filter.trim().toLowerCase();
    const rows = state.rows
      .filter((r) => !needle || r.system.toLowerCase().includes(needle) || r.systemId.toLowerCase().includes(needle))
      .sort((a, b) => compareRows(a, b));
    const head = el(
      'tr',
      {},
      COLUMNS.map((column) =>
        el(
          'th',
          {
            scope: 'col',
            class: column.numeric ? 'num' : null,
            'aria-sort':
              state.sort.key === column.key ? (state.sort.dir > 0 ? 'ascending' : 'descending') : null,
          },
          el(
            'button',
            {
              type: 'button',
              dataset: { sort: column.key },
              onclick: () => {
                state.sort =
                  state.sort.key === column.key
                    ? { key: column.key, dir: -state.sort.dir }
                    : { key: column.key, dir: 1 };
                redrawTable();
              },
            },
            column.label,
          ),
        ),
      ),
    );
    const body = rows.length
      ? rows.map(listRow)
      : [el('tr', {}, el('td', { colspan: COLUMNS.length, class: 'empty' }, 'No objective matches.'))];
    return el('table', { id: 'objectives', class: 'objectives' }, el('thead', {}, head), el('tbody', {}, body));
  }

  function redrawTable() {
    const table = document.getElementById('objectives');
    if (table) table.replaceWith(listTable());
  }

  function compareRows(a, b) {
    const { key, dir } = state.sort;
    const x = a[key];
    const y = b[key];
    if (x === y) return a.id < b.id ? -1 : 1;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  }

  function cell(field, value, text, extra) {
    return el('td', { dataset: { field, value: rawValue(value) }, class: extra || null }, text);
  }

  function listRow(row) {
    const budgetCell = el(
      'td',
      { dataset: { field: 'budget', value: rawValue(row.budget) }, class: 'num budget' },
      el('meter', {
        min: 0,
        max: 100,
        low: 20,
        high: 50,
        optimum: 100,
        value: Math.max(0, Math.min(100, row.budget)),
        'aria-label': 'Error budget left',
      }),
      el('span', {}, percent(row.budget, 1)),
    );
    return el(
      'tr',
      { dataset: { objectiveId: row.id, systemId: row.systemId } },
      el(
        'td',
        { dataset: { field: 'system', value: row.system } },
        el('a', { href: `#/objective/${encodeURIComponent(row.id)}` }, row.system),
      ),
      cell('target', row.target, percent(row.target, 2), 'num'),
      cell('windowDays', row.windowDays, `${row.windowDays} d`, 'num'),
      cell('mode', row.mode, row.mode),
      cell('availability', row.availability, percent(row.availability, 3), 'num'),
      budgetCell,
      el('td', { dataset: { field: 'state', value: row.state } }, badge(row.state)),
      el('td', { dataset: { field: 'alert', value: row.alert } }, badge(row.alert)),
      cell('streak', row.streak, `${row.streak} d`, 'num'),
    );
  }

  function badge(word) {
    return el('span', { class: `badge badge-${word}` }, word);
  }

  // ---------------------------------------------------------------- the objective page

  async function objectivePage(id) {
    const [detail, curve, events] = await Promise.all([
      rpc('getObjective', { id }),
      rpc('getBudgetCurve', { objectiveId: id, points: 97 }),
      rpc('getDowntimeEvents', { objectiveId: id, limit: 1000 }),
      loadNames(),
    ]);
    if (!detail) throw new ApiError(404, 'not-found', `SLO objective not found: ${id}`);
    const { objective, status } = detail;
    const [streaks, achievements] = await Promise.all([
      rpc('getStreaks'),
      rpc('getAchievements', { systemId: objective.systemId }),
    ]);
    const streak = streaks.streaks.find((s) => s.objectiveId === id);
    const name = curve.systemName || systemName(objective.systemId);
    const budgetChart = el('div', { id: 'budget-chart', class: 'chart' });
    const timelineChart = el('div', { id: 'timeline-chart', class: 'chart' });
    const node = el(
      'section',
      { class: 'objective', dataset: { objectiveId: id } },
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, '← All objectives')),
      el('h1', {}, name, ' ', el('span', { class: 'muted' }, `${objective.windowDays}-day objective`)),
      el(
        'div',
        { class: 'tiles' },
        tile('objective', 'Objective', percent(status.target, 2), `${objective.windowDays} days, ${modeName(status.dependencyExclusion)}`, status.target),
        tile('availability', 'Availability', percent(status.currentAvailability, 3), `strict ${percent(status.strictAvailability, 3)}`, status.currentAvailability),
        tile(
          'budget',
          'Error budget left',
          percent(status.errorBudgetRemainingPercent, 2),
          `${number(status.errorBudgetRemainingMinutes, 1)} of ${number(status.errorBudgetTotalMinutes, 1)} min · ${status.budgetState}`,
          status.errorBudgetRemainingPercent,
        ),
      ),
      el('h2', {}, 'Error budget over the window'),
      budgetChart,
      el('h2', {}, 'Burn rates'),
      burnTable(curve),
      el('h2', {}, 'Downtime'),
      timelineChart,
      legend(),
      eventsTable(events.events),
      el('h2', {}, 'Streak and achievements'),
      streakBlock(streak, achievements.achievements),
      el('h2', {}, 'Change the objective'),
      editForm(objective),
    );
    const draw = () => {
      state.charts.budget = drawBudget(budgetChart, curve);
      state.charts.timeline = drawTimeline(timelineChart, curve, events.events);
    };
    return { node, draw };
  }

  function tile(field, title, value, detail, raw) {
    return el(
      'div',
      { class: 'tile', dataset: { field, value: rawValue(raw) } },
      el('div', { class: 'tile-title' }, title),
      el('div', { class: 'tile-value' }, value),
      el('div', { class: 'tile-detail' }, detail),
    );
  }

  function burnTable(curve) {
    const rates = el(
      'tr',
      {},
      LOOKBACKS.map((name) =>
        el(
          'td',
          { class: 'num', dataset: { lookback: name, value: rawValue(curve.burnRates[name]) } },
          el('div', { class: 'lookback' }, name),
          number(curve.burnRates[name], 2),
        ),
      ),
    );
    const tiers = curve.burnAlertTiers.map((tier) =>
      el(
        'tr',
        { dataset: { alert: tier.alert, firing: String(tier.firing) } },
        el('td', {}, badge(tier.alert)),
        el('td', { class: 'num' }, `${tier.long}`),
        el('td', { class: 'num' }, number(tier.longRate, 2)),
        el('td', { class: 'num' }, `${tier.short}`),
        el('td', { class: 'num' }, number(tier.shortRate, 2)),
        el('td', { class: 'num' }, `≥ ${number(tier.threshold, 2)}`),
        el('td', {}, badge(tier.firing ? 'firing' : 'quiet')),
      ),
    );
    return el(
      'div',
      { class: 'burn' },
      el('table', { class: 'rates' }, el('tbody', {}, rates)),
      el(
        'table',
        { class: 'tiers' },
        el(
          'thead',
          {},
          el('tr', {}, ['Alert', 'Long window', 'Long burn', 'Short window', 'Short burn', 'Threshold', 'State'].map((h) => el('th', { scope: 'col' }, h))),
        ),
        el('tbody', {}, tiers),
      ),
      el('p', { class: 'muted', dataset: { field: 'burnAlert', value: curve.burnAlert } }, `Alert now: ${curve.burnAlert}`),
    );
  }

  function eventKind(event) {
    if (event.source === 'incident') return 'incident';
    return event.attributionType === 'upstream' ? 'upstream' : 'self';
  }

  function legend() {
    return el(
      'ul',
      { class: 'legend' },
      Object.entries(KIND_COLOURS).map(([kind, [stroke]]) =>
        el('li', {}, el('span', { class: `swatch swatch-${kind}`, title: stroke }), kind),
      ),
    );
  }

  function eventsTable(events) {
    if (!events.length) return el('p', { class: 'muted', id: 'events' }, 'No downtime recorded.');
    const rows = events.map((event) => {
      const end = event.endTime ? Date.parse(event.endTime) : Date.now();
      return el(
        'tr',
        { dataset: { eventId: event.id, kind: eventKind(event) } },
        el('td', {}, el('span', { class: `swatch swatch-${eventKind(event)}` }), eventKind(event)),
        el('td', {}, when(event.startTime)),
        el('td', {}, event.endTime ? when(event.endTime) : badge('open')),
        el('td', { class: 'num' }, duration(end - Date.parse(event.startTime))),
        el('td', {}, event.upstreamSystemName || event.upstreamSystemId || ''),
      );
    });
    return el(
      'table',
      { class: 'events', id: 'events' },
      el('thead', {}, el('tr', {}, ['Kind', 'Start', 'End', 'Duration', 'Upstream'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows),
    );
  }

  function streakBlock(streak, achievements) {
    const current = streak ? streak.currentStreak : 0;
    const best = streak ? streak.bestStreak : 0;
    return el(
      'div',
      { class: 'streak' },
      el('p', { dataset: { field: 'streak', value: String(current) } }, `Current streak: ${current} days · best ${best} days`),
      achievements.length
        ? el(
            'ul',
            { class: 'achievements' },
            achievements.map((a) => el('li', {}, badge(a.achievement), ' ', when(a.unlockedAt))),
          )
        : el('p', { class: 'muted' }, 'No achievements yet.'),
    );
  }

  function editForm(objective) {
    const target = el('input', {
      id: 'edit-target',
      name: 'target',
      type: 'number',
      step: 'any',
      min: 0,
      max: 100,
      value: objective.target,
      required: true,
    });
    const result = el('span', { id: 'edit-result', role: 'status' });
    return el(
      'form',
      {
        class: 'edit',
        id: 'edit-objective',
        onsubmit: async (event) => {
          event.preventDefault();
          result.textContent = 'Saving…';
          try {
            await rpc('updateObjective', { id: objective.id, target: Number(target.value) });
            result.textContent = 'Saved.';
            scheduleRefresh();
          } catch (error) {
            result.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
            result.dataset.error = error.code || 'error';
          }
        },
      },
      el('label', { for: 'edit-target' }, 'Target (%)'),
      target,
      el('button', { type: 'submit' }, 'Save'),
      result,
    );
  }

  // ---------------------------------------------------------------- charts (uPlot)

  function chartWidth(container) {
    return Math.max(320, (container.parentElement || document.body).clientWidth - 8);
  }

  function drawBudget(container, curve) {
    const xs = curve.points.map((p) => Date.parse(p.at) / 1000);
    const ys = curve.points.map((p) => p.errorBudgetRemainingPercent);
    const low = Math.min(0, ...ys);
    container.dataset.points = String(ys.length);
    return new uPlot(
      {
        width: chartWidth(container),
        height: 260,
        scales: { y: { range: () => [low, 100] } },
        series: [
          {},
          {
            label: 'Budget left',
            stroke: '#1f5fbf',
            fill: 'rgba(31,95,191,0.12)',
            width: 2,
            value: (u, v) => percent(v, 3),
          },
        ],
        axes: [{}, { values: (u, splits) => splits.map((v) => `${v} %`), size: 60 }],
      },
      [xs, ys],
      container,
    );
  }

  // The downtime timeline: one stepped, filled series per kind (1 while any interval of that
  // kind covers the instant), over the objective's window.
  function drawTimeline(container, curve, events) {
    const from = Date.parse(curve.from);
    const to = Date.parse(curve.to);
    const intervals = { maintenance: [], self: [], upstream: [], incident: [] };
    for (const event of events) {
      const start = Date.parse(event.startTime);
      const end = event.endTime ? Date.parse(event.endTime) : to;
      if (end < from || start > to) continue;
      intervals[eventKind(event)].push([Math.max(start, from), Math.min(end, to)]);
    }
    for (const window of curve.maintenanceWindows) {
      if (window.status === 'cancelled') continue;
      const start = Date.parse(window.start);
      const end = Date.parse(window.end);
      if (end < from || start > to) continue;
      intervals.maintenance.push([Math.max(start, from), Math.min(end, to)]);
    }
    const instants = new Set([from, to]);
    for (const list of Object.values(intervals)) for (const [a, b] of list) instants.add(a).add(b);
    const xs = [...instants].sort((a, b) => a - b);
    const kinds = Object.keys(intervals);
    const series = kinds.map((kind) =>
      xs.map((x) => (intervals[kind].some(([a, b]) => a <= x && x < b) ? 1 : 0)),
    );
    container.dataset.intervals = String(Object.values(intervals).reduce((n, l) => n + l.length, 0));
    container.dataset.maintenance = String(intervals.maintenance.length);
    const stepped = uPlot.paths.stepped({ align: 1 });
    return new uPlot(
      {
        width: chartWidth(container),
        height: 150,
        scales: { x: { range: () => [from / 1000, to / 1000] }, y: { range: () => [0, 1.05] } },
        series: [
          {},
          ...kinds.map((kind) => ({
            label: kind,
            stroke: KIND_COLOURS[kind][0],
            fill: KIND_COLOURS[kind][1],
            width: 1,
            paths: stepped,
            points: { show: false },
            value: (u, v) => (v ? 'down' : ''),
          })),
        ],
        axes: [{}, { show: false }],
        legend: { show: true },
      },
      [xs.map((x) => x / 1000), ...series],
      container,
    );
  }

  // ---------------------------------------------------------------- live updates

  function setLive(word) {
    const badgeNode = document.getElementById('live');
    badgeNode.dataset.state = word;
    badgeNode.textContent = word === 'live' ? 'live' : word === 'off' ? 'offline' : 'reconnecting…';
  }

  // Reads `GET /events` with `fetch` (an `EventSource` cannot send the token) and refreshes
  // the page shortly after each status signal.
  async function listen() {
    if (state.live) state.live.abort();
    const controller = new AbortController();
    state.live = controller;
    while (state.token && !controller.signal.aborted) {
      try {
        const response = await fetch('/events', {
          headers: { Authorization: `Bearer ${state.token}` },
          signal: controller.signal,
        });
        if (response.status === 401) {
          signOut('the token was refused');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            onEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      setLive('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function onEvent(block) {
    let name = 'message';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
    }
    if (name === 'ready') {
      setLive('live');
      scheduleRefresh();
    } else if (name === 'resync' || name.startsWith('slo.')) {
      document.body.dataset.lastEvent = name;
      scheduleRefresh();
    }
  }

  // ---------------------------------------------------------------- start

  document.getElementById('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = document.getElementById('token').value.trim();
    if (token) signIn(token);
  });
  document.getElementById('sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', render);
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(render, 200);
  });

  if (state.token) signIn(state.token);
  else signOut();
})();
