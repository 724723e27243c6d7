// Accessible names that Django 5.2's admin widgets leave out (axe-core finds them): the filter icon of
// a filter_horizontal box has an aria-label but no role that allows one, and an empty autocomplete
// box (select2) is named only by its selection, which is empty. Both widgets are built by script,
// some after the page has loaded (a new inline row), hence the observer.
"use strict";
(() => {
  function labelOf(select) {
    const label = select.id && document.querySelector(`label[for="${CSS.escape(select.id)}"]`);
    return label ? label.textContent.trim().replace(/:$/, "") : "";
  }

  function addNames() {
    for (const icon of document.querySelectorAll(".search-label-icon[aria-label]:not([role])")) {
      icon.setAttribute("role", "img");
    }
    for (const select of document.querySelectorAll("select.admin-autocomplete")) {
      const box = select.nextElementSibling;
      const name = labelOf(select);
      if (!name || !box || !box.classList.contains("select2")) continue;
      for (const control of box.querySelectorAll('[role="combobox"], [role="textbox"]')) {
        if (!control.hasAttribute("aria-label")) control.setAttribute("aria-label", name);
      }
    }
  }

  new MutationObserver(addNames).observe(document.documentElement, { childList: true, subtree: true });
})();
