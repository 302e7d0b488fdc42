// Keeps the page's jobs up to date without a reload: the list polls /api/jobs, a running job's
// page polls its own entry and reloads once it ends (to show its outputs and errors). Every value
// goes in as text, never as markup.
"use strict";
(function () {
  const base = document.body.dataset.base;
  const EVERY_MS = 1500;

  function fill(root, job) {
    root.querySelectorAll("[data-field]").forEach(function (node) {
      const value = job[node.dataset.field];
      node.textContent = value === null || value === undefined ? "" : String(value);
    });
    root.querySelectorAll("[data-link]").forEach(function (link) {
      link.setAttribute("href", job.url);
    });
    const ok = root.querySelector('[data-bar="success"]');
    const failed = root.querySelector('[data-bar="errors"]');
    ok.setAttribute("width", job.success_pct + "%");
    failed.setAttribute("x", job.success_pct + "%");
    failed.setAttribute("width", job.error_pct + "%");
  }

  async function get(path) {
    const response = await fetch(base + path, {credentials: "same-origin",
                                               headers: {accept: "application/json"}});
    if (response.status === 401) {
      window.location.assign(base + "/login");
      return null;
    }
    return response.ok ? response.json() : null;
  }

  // apply(data) returns false to stop polling.
  function poll(path, apply) {
    async function tick() {
      try {
        const data = await get(path);
        if (data !== null && apply(data) === false) {
          return;
        }
      } catch (error) {
        // The server may be restarting: the next tick asks again.
      }
      window.setTimeout(tick, EVERY_MS);
    }
    window.setTimeout(tick, EVERY_MS);
  }

  function showJobs(table) {
    const rows = table.tBodies[0];
    const template = document.getElementById("row-template");
    poll("/api/jobs", function (data) {
      let previous = null;
      data.jobs.forEach(function (job) {
        let row = rows.querySelector('tr[data-job="' + CSS.escape(job.id) + '"]');
        if (row === null) {
          row = template.content.firstElementChild.cloneNode(true);
          row.dataset.job = job.id;
          // Newest first, where the API puts it.
          rows.insertBefore(row, previous === null ? rows.firstChild : previous.nextSibling);
        }
        row.className = "status-" + job.status;
        fill(row, job);
        previous = row;
      });
      document.getElementById("no-jobs").hidden = data.jobs.length > 0;
    });
  }

  function showJob(detail) {
    poll("/api/jobs/" + detail.dataset.job, function (job) {
      detail.className = "detail status-" + job.status;
      fill(detail, job);
      if (job.ended) {
        window.location.reload();
        return false;
      }
      return true;
    });
  }

  const table = document.getElementById("jobs");
  if (table !== null) {
    showJobs(table);
  }
  const detail = document.querySelector(".detail[data-job]");
  if (detail !== null && detail.dataset.ended === "no") {
    showJob(detail);
  }
})();
