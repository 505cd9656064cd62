/* A run's page: follow its output while it runs. About once a second, ask the admin's
   JSON endpoint for the output from the last offset on, append it, and stop when the run
   has ended; then show its final status. No build step, no library. Every text shown
   comes from the server, already translated. */
"use strict";
function tablecronRunOutput() {
    const box = document.querySelector(".tablecron-output[data-active=true]");
    if (!box) {
        return;
    }
    const text = box.querySelector(".tablecron-output-text");
    const state = box.querySelector(".tablecron-output-state");
    const EVERY = 1000; // ms between reads, as often as the run's output is written
    const following = state.textContent;
    let offset = Number(box.dataset.offset) || 0;
    let failures = 0;

    // Keep the newest line in view, unless the reader scrolled up to read older ones.
    function atBottom() {
        return text.scrollHeight - text.scrollTop - text.clientHeight < 24;
    }

    function append(more) {
        if (!more) {
            return;
        }
        const follow = atBottom();
        text.appendChild(document.createTextNode(more));
        if (follow) {
            text.scrollTop = text.scrollHeight;
        }
    }

    // The fields its end changed (status, story, result, error) take the server's HTML,
    // escaped there; a run that has ended has nothing left to cancel.
    function showEnd(data) {
        for (const [name, html] of Object.entries(data.fields || {})) {
            const field = document.querySelector(".field-" + name + " .readonly");
            if (field) {
                field.innerHTML = html;
            }
        }
        for (const tool of document.querySelectorAll(".tablecron-cancel")) {
            tool.remove();
        }
        box.dataset.active = "false";
        state.textContent = box.dataset.ended.replace("%(status)s", data.status_label);
    }

    async function read() {
        let data;
        try {
            const url = box.dataset.url + "?offset=" + encodeURIComponent(offset);
            const response = await fetch(url, {
                credentials: "same-origin",
                headers: {Accept: "application/json"},
            });
            if (response.redirected || response.status === 403 || response.status === 404) {
                return; // signed out, or the run deleted: nothing more to follow
            }
            if (!response.ok) {
                throw new Error(String(response.status));
            }
            data = await response.json();
        } catch (error) {
            failures += 1;
            state.textContent = box.dataset.lost;
            window.setTimeout(read, Math.min(EVERY * 2 ** failures, 30000));
            return;
        }
        if (failures) {
            failures = 0;
            state.textContent = following;
        }
        append(data.text);
        offset = data.next_offset;
        if (data.finished) {
            showEnd(data);
        } else {
            window.setTimeout(read, EVERY);
        }
    }

    text.scrollTop = text.scrollHeight;
    window.setTimeout(read, EVERY);
}

// The admin puts form media in <head>: wait for the page.
if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", tablecronRunOutput);
} else {
    tablecronRunOutput();
}
