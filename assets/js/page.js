/* Page behaviour: citation and footnote previews on hover, keyboard focus and tap; details opened for print. */
(function () {
  'use strict';
  var card = null;       // the one preview card, reused
  var owner = null;      // the link it currently describes
  var hideTimer = null;
  var shownAtPointerDown = false;
  var noHover = window.matchMedia ? window.matchMedia('(hover: none)') : { matches: false };

  function ensureCard() {
    if (card) return card;
    card = document.createElement('div');
    card.className = 'hover-card';
    card.id = 'hover-card';
    card.setAttribute('role', 'tooltip');
    card.hidden = true;
    card.addEventListener('mouseenter', cancelHide);
    card.addEventListener('mouseleave', scheduleHide);
    document.body.appendChild(card);
    return card;
  }

  /** Return the preview content for a citation or footnote link, or null. */
  function contentFor(link) {
    var box = document.createElement('div');
    var cite = link.closest('.citation');
    if (cite) {
      var list = document.createElement('ol');
      (cite.getAttribute('data-refs') || '').split(' ').forEach(function (id) {
        var ref = id && document.getElementById(id);
        if (!ref) return;
        var li = document.createElement('li');
        li.value = ref.value;
        li.innerHTML = ref.innerHTML;
        list.appendChild(li);
      });
      if (!list.children.length) return null;
      box.appendChild(list);
      return box;
    }
    var id = decodeURIComponent((link.getAttribute('href') || '').slice(1));
    var note = id && document.getElementById(id);
    if (!note) return null;
    box.innerHTML = note.innerHTML;
    Array.prototype.forEach.call(box.querySelectorAll('.footnote-backref'), function (a) { a.remove(); });
    return box;
  }

  function place(link) {
    var r = link.getBoundingClientRect();
    var width = document.documentElement.clientWidth;
    card.style.left = '0px';
    card.style.top = '0px';
    var w = card.offsetWidth;
    var left = Math.max(8, Math.min(r.left + window.scrollX - 16, window.scrollX + width - w - 8));
    card.style.left = left + 'px';
    card.style.top = (r.bottom + window.scrollY + 6) + 'px';
  }

  function show(link) {
    cancelHide();
    var content = contentFor(link);
    if (!content) return;
    ensureCard();
    if (owner && owner !== link) owner.removeAttribute('aria-describedby');
    card.innerHTML = '';
    card.appendChild(content);
    card.hidden = false;
    owner = link;
    link.setAttribute('aria-describedby', card.id);
    place(link);
  }

  function hide() {
    cancelHide();
    if (!card) return;
    card.hidden = true;
    if (owner) owner.removeAttribute('aria-describedby');
    owner = null;
  }

  function scheduleHide() {
    cancelHide();
    hideTimer = window.setTimeout(hide, 250);
  }

  function cancelHide() {
    if (hideTimer) window.clearTimeout(hideTimer);
    hideTimer = null;
  }

  function previewLink(target) {
    return target && target.closest ? target.closest('.citation-link, a.footnote-ref') : null;
  }

  document.addEventListener('mouseover', function (e) {
    var link = previewLink(e.target);
    if (link && !noHover.matches) show(link);
  });
  document.addEventListener('mouseout', function (e) {
    var link = previewLink(e.target);
    if (link && link === owner && !link.contains(e.relatedTarget)) scheduleHide();
  });
  document.addEventListener('focusin', function (e) {
    var link = previewLink(e.target);
    if (link) show(link);
  });
  document.addEventListener('focusout', function (e) {
    if (previewLink(e.target) === owner) scheduleHide();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && card && !card.hidden) hide();
  });
  // Touch: the first tap on a link shows its preview, a second tap follows it; a tap elsewhere closes it.
  document.addEventListener('pointerdown', function (e) {
    var link = previewLink(e.target);
    shownAtPointerDown = !!(link && link === owner && card && !card.hidden);
  });
  document.addEventListener('click', function (e) {
    var link = previewLink(e.target);
    if (link && noHover.matches && !shownAtPointerDown) {
      e.preventDefault();
      show(link);
    } else if (!link && card && !card.hidden && !card.contains(e.target)) {
      hide();
    }
  });
  window.addEventListener('resize', function () { if (owner && card && !card.hidden) place(owner); });
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
  });
})();
