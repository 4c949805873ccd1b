// Public registration page: 获取验证码 through the public API with a countdown from the
// server's answer. Without fetch (or without JavaScript) the button submits the form instead
// and the server sends the code. ES5 only: old in-app browsers open this page too.
(function () {
  "use strict";
  var button = document.getElementById("send-code");
  var form = document.getElementById("apply-form");
  if (!button || !form || !window.fetch || !window.JSON) return;
  var phone = form.querySelector("[name=phone]");
  var codeField = form.querySelector("[name=code]");
  var notice = document.getElementById("code-notice");
  var label = button.textContent;
  var timer = null;

  function clearErrors() {
    var shown = form.querySelectorAll(".error[data-for=phone], .error[data-for=code]");
    for (var i = 0; i < shown.length; i++) shown[i].parentNode.removeChild(shown[i]);
  }

  function showError(fieldName, message) {
    var input = form.querySelector("[name=" + fieldName + "]");
    var box = input ? input.closest(".field") : null;
    if (!box) return;
    var p = document.createElement("p");
    p.className = "error";
    p.setAttribute("data-for", fieldName);
    p.setAttribute("role", "alert");
    p.textContent = message;
    box.appendChild(p);
  }

  function countdown(seconds) {
    var left = Math.max(0, Math.ceil(Number(seconds) || 0));
    if (timer) window.clearInterval(timer);
    if (!left) return;
    button.disabled = true;
    button.textContent = left + " 秒后重新获取";
    timer = window.setInterval(function () {
      left -= 1;
      if (left <= 0) {
        window.clearInterval(timer);
        timer = null;
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = left + " 秒后重新获取";
    }, 1000);
  }

  button.addEventListener("click", function (event) {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors();
    notice.textContent = "";
    button.disabled = true;
    fetch(button.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ phone: phone.value, purpose: button.getAttribute("data-purpose") })
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { status: response.status, body: body, retry: response.headers.get("Retry-After") };
        });
      })
      .then(function (result) {
        button.disabled = false;
        if (result.status === 202) {
          notice.textContent = "验证码已发送，请注意查收短信";
          countdown(result.body.cooldown);
          if (codeField) codeField.focus();
          return;
        }
        var fields = (result.body && result.body.fields) || {};
        var placed = false;
        for (var name in fields) {
          if (Object.prototype.hasOwnProperty.call(fields, name) && fields[name].length) {
            showError(name === "phone" ? "phone" : "code", fields[name][0]);
            placed = true;
          }
        }
        if (!placed) showError("code", (result.body && result.body.message) || "短信发送失败，请稍后再试");
        if (result.status === 429 && result.retry) countdown(result.retry);
      })
      .catch(function () {
        button.disabled = false;
        showError("code", "网络异常，请稍后再试");
      });
  });

  countdown(button.getAttribute("data-cooldown"));
})();
