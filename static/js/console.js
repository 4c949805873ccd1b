// Console behaviour on top of HTMX: modals (弹层) and small conveniences.
(function () {
  "use strict";
  function closeModal() {
    var m = document.getElementById("modal");
    if (m) m.innerHTML = "";
  }
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") closeModal();
  });
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.matches && (t.matches("[data-close-modal]") || t.classList.contains("modal-backdrop"))) {
      e.preventDefault();
      closeModal();
    }
    if (t.matches && t.matches("[data-confirm]") && !window.confirm(t.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });
  document.body && document.body.addEventListener("closeModal", closeModal);
  document.addEventListener("closeModal", closeModal);
  // Focus the first field of a modal when it appears.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "modal") {
      var f = e.detail.target.querySelector("input:not([type=hidden]),select,textarea");
      if (f) f.focus();
    }
  });
  // Copy a read-only value (e.g. a token shown once): <button data-copy="#input-id">.
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t.matches && t.matches("[data-copy]"))) return;
    var input = document.querySelector(t.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    if (navigator.clipboard) navigator.clipboard.writeText(input.value);
    t.textContent = "已复制";
  });
  // Select-all checkbox for bulk actions.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-check-all]")) {
      document.querySelectorAll("input[name='" + t.getAttribute("data-check-all") + "']").forEach(function (c) { c.checked = t.checked; });
    }
  });
})();
