/* Keyboard helper: a "roving tabindex" that makes a set of items one Tab stop moved through with arrows. */
(function () {
  'use strict';
  var lib = window.Caricatures.lib;

  function usable(entry) {
    return !entry.disabled && entry.node.getClientRects().length > 0;
  }

  function center(node) {
    var r = node.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  }

  // Pick the entry one visual row up (dir -1) or down (+1), closest in x: for wrapping layouts.
  function geometricStep(entries, i, dir) {
    var here = center(entries[i].node);
    var best = -1, bestDy = Infinity, bestDx = Infinity;
    entries.forEach(function (entry, j) {
      if (j === i || !usable(entry)) return;
      var p = center(entry.node);
      var dy = (p.y - here.y) * dir;
      if (dy < 4) return;
      var dx = Math.abs(p.x - here.x);
      if (dy < bestDy - 4 || (Math.abs(dy - bestDy) <= 4 && dx < bestDx)) {
        best = j; bestDy = dy; bestDx = dx;
      }
    });
    return best;
  }

  function linearStep(entries, i, dir) {
    for (var j = i + dir; j >= 0 && j < entries.length; j += dir) if (usable(entries[j])) return j;
    return -1;
  }

  // In a table of (r, c) positions, move along one axis to the nearest usable entry.
  function gridStep(entries, i, dr, dc) {
    var here = entries[i], best = -1, bestDist = Infinity;
    entries.forEach(function (e, j) {
      if (j === i || !usable(e)) return;
      var dist = dr ? (e.r - here.r) * dr : (e.c - here.c) * dc;
      var same = dr ? e.c === here.c : e.r === here.r;
      if (same && dist > 0 && dist < bestDist) { best = j; bestDist = dist; }
    });
    return best;
  }

  /**
   * Make `entries` ([{node, r?, c?, disabled?}]) a single Tab stop; arrows move focus, Enter/Space select.
   * opts.mode: "linear" (all arrows step through the list), "grid" (entries carry r, c) or "geometric"
   * (a wrapping layout); opts.onFocus(i) and opts.onSelect(i) are called with the entry index.
   * Returns {current(), setCurrent(i), focus(i), refresh()}.
   */
  lib.roving = function (entries, opts) {
    var mode = opts.mode || 'linear';
    var cur = Math.max(0, Math.min(entries.length - 1, opts.initial || 0));
    var api = {
      current: function () { return cur; },
      setCurrent: function (i) {
        cur = i;
        entries.forEach(function (e, j) { e.node.tabIndex = j === i ? 0 : -1; });
      },
      focus: function (i) { api.setCurrent(i); entries[i].node.focus(); },
      refresh: function () {
        if (entries[cur] && usable(entries[cur])) return api.setCurrent(cur);
        for (var j = 0; j < entries.length; j++) if (usable(entries[j])) return api.setCurrent(j);
      },
    };
    entries.forEach(function (entry, i) {
      entry.node.addEventListener('focus', function () {
        api.setCurrent(i);
        if (opts.onFocus) opts.onFocus(i);
      });
      entry.node.addEventListener('keydown', function (ev) {
        if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
        var k = ev.key, to = -2;
        if (k === 'Enter' || k === ' ' || k === 'Spacebar') {
          ev.preventDefault();
          if (opts.onSelect && !entry.disabled) opts.onSelect(i);
          return;
        }
        var dir = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[k];
        var vertical = k === 'ArrowUp' || k === 'ArrowDown';
        if (dir && mode === 'grid') to = vertical ? gridStep(entries, i, dir, 0) : gridStep(entries, i, 0, dir);
        else if (dir && mode === 'geometric' && vertical) to = geometricStep(entries, i, dir);
        else if (dir) to = linearStep(entries, i, dir);
        else if (k === 'Home') to = linearStep(entries, -1, 1);
        else if (k === 'End') to = linearStep(entries, entries.length, -1);
        if (to === -2) return;
        ev.preventDefault();
        if (to >= 0) api.focus(to);
      });
    });
    api.setCurrent(cur);
    return api;
  };
})();
