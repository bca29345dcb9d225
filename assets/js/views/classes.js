/* classes view: a photo and its top classes; each class shows its attribution caricature and attribution map. */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.classes = function mount(el, index, ctx) {
    var d = index.data || {};
    var items = lib.list(d, 'items', 'classes');
    var photo = d.photo || {};
    var defs = d.metric_defs || [];
    var sprites = ctx.sprites;
    sprites.need(photo.tile, 'photo.tile');
    items.forEach(function (item, i) {
      sprites.need(item.tile, 'items[' + i + '].tile');
      if (item.attribution) sprites.need(item.attribution, 'items[' + i + '].attribution');
    });
    sprites.load(sprites.sheetsOfGroups(null));

    var selected = lib.indexOf(items, d.initial);
    var shown = selected;
    var inspector = lib.inspector(sprites);
    var overlay = lib.h('div', { class: 'cv-tile cv-overlay', 'aria-hidden': 'true',
      style: { opacity: String(d.overlay_opacity === undefined ? 0.7 : d.overlay_opacity) } });
    inspector.photo.tile.appendChild(overlay);
    var car = inspector.car.tile;
    car.tabIndex = 0;
    car.classList.add('cv-hot');
    var toggleId = lib.uid('cv-toggle');
    var toggle = lib.h('input', { type: 'checkbox', id: toggleId, class: 'cv-checkbox' });
    var toggleBox = lib.h('div', { class: 'cv-toggle' }, [toggle,
      lib.h('label', { for: toggleId, text: d.overlay_label || 'Show attribution map on the photo' })]);
    var list = lib.h('ul', { class: 'cv-class-list', role: 'listbox', 'aria-label': d.label || 'Top classes' });
    var nodes = items.map(function (item) {
      var bar = typeof item.prob === 'number'
        ? lib.h('span', { class: 'cv-bar', 'aria-hidden': 'true' },
          [lib.h('span', { style: { width: Math.max(0, Math.min(1, item.prob)) * 100 + '%' } })])
        : lib.h('span', { 'aria-hidden': 'true' });
      var node = lib.h('li', { class: 'cv-class' + (item.kind === 'difference' ? ' cv-difference' : ''),
        role: 'option', 'aria-selected': 'false', 'data-key': item.key }, [
        lib.h('span', { class: 'cv-class-label', text: item.label || item.key }), bar,
        lib.h('span', { class: 'cv-class-value', text: typeof item.prob === 'number' ? lib.fmt(item.prob, '.0%')
          : item.value !== undefined ? String(item.value) : '' })]);
      list.appendChild(node);
      return node;
    });
    var side = lib.h('div', { class: 'cv-classes-side' }, [
      lib.h('div', { class: 'cv-field-label', text: d.list_label || 'Caricature toward…' }), list, toggleBox]);
    var root = lib.h('div', { class: 'cv cv-classes' }, [inspector.root, side]);
    el.appendChild(root);

    var peek = { hover: false, focus: false };
    function renderOverlay() {
      var key = items[shown].attribution;
      var on = !!key && (toggle.checked || peek.hover || peek.focus);
      sprites.paint(overlay, on ? key : null, 'items[' + shown + '].attribution');
      root.classList.toggle('is-overlay', on);
    }
    function render() {
      var item = items[shown], label = item.label || item.key, photoLabel = photo.label || 'photo';
      inspector.show({
        photo: photo.tile, photoAlt: 'photo: ' + photoLabel, photoWhere: 'photo.tile',
        photoCap: photoLabel, car: item.tile, carWhere: 'items[' + shown + '].tile',
        carCap: 'toward ' + label + (item.attribution ? ' (hover: attribution)' : ''),
        carAlt: 'caricature of ' + photoLabel + ' toward ' + label,
        title: photoLabel + ' → ' + label + (d.layer_label ? ' · ' + d.layer_label : ''),
        metrics: [typeof item.prob === 'number' ? 'p ' + lib.fmt(item.prob, '.1%') : null]
          .concat(lib.metricParts(item.metrics, defs)).filter(Boolean),
      });
      nodes.forEach(function (node, i) {
        node.classList.toggle('is-shown', i === shown);
        node.setAttribute('aria-selected', i === selected ? 'true' : 'false');
      });
      renderOverlay();
    }
    function show(i) { shown = i; render(); }
    function select(i) { selected = i; show(i); }
    lib.roving(nodes.map(function (node) { return { node: node }; }), {
      mode: 'linear', initial: selected, onFocus: select, onSelect: select,
    });
    nodes.forEach(function (node, i) {
      lib.onHover(node, function () { show(i); });
      node.addEventListener('click', function () { select(i); });
    });
    // Touch gets no hover peek: a tap toggles the map instead, so it can be turned off again.
    car.addEventListener('pointerenter', function (ev) {
      if (ev.pointerType === 'mouse') { peek.hover = true; renderOverlay(); }
    });
    car.addEventListener('pointerleave', function () { peek.hover = false; renderOverlay(); });
    car.addEventListener('focus', function () { peek.focus = car.matches(':focus-visible'); renderOverlay(); });
    car.addEventListener('blur', function () { peek.focus = false; renderOverlay(); });
    car.addEventListener('click', function () { toggle.checked = !toggle.checked; renderOverlay(); });
    car.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); toggle.checked = !toggle.checked; renderOverlay(); }
    });
    toggle.addEventListener('change', renderOverlay);
    root.addEventListener('mouseleave', function () { show(selected); });
    render();
  };
})();
