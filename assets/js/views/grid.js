/* grid view: a photos × layers table of caricature tiles beside a large inspector (the teaser figure). */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.grid = function mount(el, index, ctx) {
    var d = index.data || {};
    var rows = lib.list(d, 'rows', 'grid');
    var cols = lib.list(d, 'cols', 'grid');
    var cells = d.cells || {};
    var defs = d.metric_defs || [];
    var sprites = ctx.sprites;
    var cell = function (r, c) { return (cells[rows[r].key] || {})[cols[c].key] || null; };
    var where = function (r, c) { return 'cells.' + rows[r].key + '.' + cols[c].key + '.tile'; };

    rows.forEach(function (row, r) {
      if (row.photo) sprites.need(row.photo, 'rows[' + r + '].photo');
      cols.forEach(function (col, c) { if (cell(r, c)) sprites.need(cell(r, c).tile, where(r, c)); });
    });
    sprites.load(sprites.sheetsOfGroups(null));

    var selected = {
      r: Math.max(0, lib.indexOf(rows, (d.initial || {}).row)),
      c: Math.max(0, lib.indexOf(cols, (d.initial || {}).col)),
    };
    var shown = { r: selected.r, c: selected.c };
    var entries = [];   // roving entries: column headers (r = 0), row headers (c = 0), cells

    var headRow = lib.h('tr', {}, [lib.h('td', { class: 'cv-corner' })]);
    cols.forEach(function (col, c) {
      var th = lib.h('th', { class: 'cv-colhead', scope: 'col', title: col.label || col.key,
        'aria-label': col.label || col.key }, [col.short || col.label || col.key]);
      headRow.appendChild(th);
      entries.push({ node: th, r: 0, c: c + 1, kind: 'col', i: c });
    });
    var body = lib.h('tbody');
    rows.forEach(function (row, r) {
      var label = row.label || row.key;
      var thumb = row.photo ? lib.h('div', { class: 'cv-tile cv-thumb' }) : null;
      if (thumb) sprites.paint(thumb, row.photo, 'rows[' + r + '].photo');
      // A row with a photo and a short label shows both (e.g. which checkpoint of a network the row is).
      var head = thumb && row.short ? lib.h('div', { class: 'cv-rowtag' }, [lib.h('span', { text: row.short }), thumb])
        : thumb || lib.h('span', { text: row.short || label });
      var th = lib.h('th', { class: 'cv-rowhead', scope: 'row', title: label, 'aria-label': label }, [head]);
      var tr = lib.h('tr', {}, [th]);
      entries.push({ node: th, r: r + 1, c: 0, kind: 'row', i: r });
      cols.forEach(function (col, c) {
        var info = cell(r, c);
        var tile = lib.h('div', { class: 'cv-tile cv-thumb' });
        if (info) sprites.paint(tile, info.tile, where(r, c));
        else tile.classList.add('cv-empty');
        var td = lib.h('td', { class: 'cv-cell', role: 'gridcell',
          'aria-label': label + ', ' + (col.label || col.key) }, [tile]);
        tr.appendChild(td);
        entries.push({ node: td, r: r + 1, c: c + 1, kind: 'cell', i: r, j: c });
      });
      body.appendChild(tr);
    });
    var table = lib.h('table', { class: 'cv-table', role: 'grid',
      'aria-label': d.label || 'Caricatures: photos in rows, layers in columns' },
    [lib.h('thead', {}, [headRow]), body]);
    var inspector = lib.inspector(sprites);
    var root = lib.h('div', { class: 'cv cv-grid' },
      [lib.h('div', { class: 'cv-scroll' }, [table]), inspector.root]);
    el.appendChild(root);

    function render() {
      var r = shown.r, c = shown.c, info = cell(r, c), row = rows[r], col = cols[c];
      var rowLabel = row.label || row.key, colLabel = col.label || col.key;
      inspector.show({
        photo: row.photo, photoAlt: 'photo: ' + rowLabel, photoWhere: 'rows[' + r + '].photo',
        car: info && info.tile, carWhere: where(r, c), carCap: 'caricature at ' + colLabel,
        carAlt: 'caricature of ' + rowLabel + ' at ' + colLabel,
        title: rowLabel + ' · ' + colLabel,
        metrics: info ? lib.metricParts(info.metrics, defs) : ['not computed'],
      });
      entries.forEach(function (e) {
        var on = e.kind === 'cell' ? e.i === r && e.j === c : e.kind === 'row' ? e.i === r : e.i === c;
        var sel = e.kind === 'cell' ? e.i === selected.r && e.j === selected.c
          : e.kind === 'row' ? e.i === selected.r : e.i === selected.c;
        e.node.classList.toggle('is-shown', on);
        e.node.classList.toggle('is-selected', sel);
        e.node.setAttribute('aria-selected', sel ? 'true' : 'false');
      });
    }

    // Where an entry points, keeping the other coordinate from `base`.
    function target(e, base) {
      if (e.kind === 'cell') return { r: e.i, c: e.j };
      if (e.kind === 'row') return { r: e.i, c: base.c };
      return { r: base.r, c: e.i };
    }
    function show(t) { shown = t; render(); }
    function select(t) { selected = { r: t.r, c: t.c }; show(t); }

    var initialEntry = entries.findIndex(function (e) {
      return e.kind === 'cell' && e.i === selected.r && e.j === selected.c;
    });
    lib.roving(entries, {
      mode: 'grid', initial: initialEntry,
      onFocus: function (i) { select(target(entries[i], shown)); },
      onSelect: function (i) { select(target(entries[i], shown)); },
    });
    entries.forEach(function (e) {
      lib.onHover(e.node, function () { show(target(e, shown)); });
      e.node.addEventListener('click', function () { select(target(e, shown)); });
    });
    root.addEventListener('mouseleave', function () { show({ r: selected.r, c: selected.c }); });
    render();
  };
})();
