// The two things the pages cannot do without script: an upload's progress, and a converting
// version's page refreshing itself. Everything else works with script off.
"use strict";

const REFRESH_LIMIT_MS = 30 * 60 * 1000; // a conversion outliving this is shown as it was

function refreshWhileConverting() {
  const live = document.getElementById("live");
  if (!live || !live.dataset.refreshSeconds) return;
  const started = Date.now();
  const every = Number(live.dataset.refreshSeconds) * 1000;
  const tick = async () => {
    let settled = false;
    try {
      const answer = await fetch(location.href, { credentials: "same-origin" });
      const fresh = answer.ok
        ? new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("live")
        : null;
      if (fresh) {
        document.getElementById("live").replaceWith(fresh);
        settled = !fresh.dataset.refreshSeconds;
      }
    } catch (error) {
      // The registry is busy or restarting: the next tick asks again.
    }
    if (!settled && Date.now() - started < REFRESH_LIMIT_MS) setTimeout(tick, every);
  };
  setTimeout(tick, every);
}

function uploadWithProgress() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const problem = document.getElementById("upload-error");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const done = Math.round((100 * progress.loaded) / progress.total);
      bar.value = done;
      percent.textContent = `${done}%`;
    });
    request.addEventListener("load", () => {
      if (request.status < 400) {
        location.assign(request.responseURL);
        return;
      }
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const said = page.querySelector("p.error");
      problem.textContent = said ? said.textContent : `upload refused (${request.status})`;
      problem.hidden = false;
      form.querySelector(".progress").hidden = true;
    });
    request.addEventListener("error", () => {
      problem.textContent = "the upload was interrupted: check the connection and send it again";
      problem.hidden = false;
    });
    form.querySelector(".progress").hidden = false;
    problem.hidden = true;
    request.send(new FormData(form));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  refreshWhileConverting();
  uploadWithProgress();
});
