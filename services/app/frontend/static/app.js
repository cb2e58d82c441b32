// Optional: every page works without it. A form that is being sent is marked busy and
// ignores further submits for a few seconds (the server makes a second add harmless
// anyway, with the form's Idempotency-Key).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.getAttribute("aria-busy") === "true") {
    event.preventDefault();
    return;
  }
  form.setAttribute("aria-busy", "true");
  setTimeout(() => form.removeAttribute("aria-busy"), 3000);
});
