// The review page: apply a filter as soon as it changes; picking a start date selects "custom".
(function () {
  "use strict";
  var form = document.getElementById("rv-filters");
  if (!form) { return; }
  var start = form.querySelector("input[name=start]");
  var custom = form.querySelector("input[name=since][value=custom]");
  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target === start) {
      if (!start.value) { return; }
      custom.checked = true;
    }
    if (target.name === "since" && target.value === "custom" && !start.value) {
      start.focus();
      return;
    }
    go();
  });
  form.addEventListener("submit", function () { if (!custom.checked) { start.disabled = true; } });
  function go() {
    if (!custom.checked) { start.disabled = true; }  // keep the address short
    form.submit();
  }
})();
