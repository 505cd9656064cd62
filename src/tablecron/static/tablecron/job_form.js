/* The job form: show only the chosen kind of schedule's fields, describe the chosen task,
   and list the upcoming fire times as the schedule is typed. No build step, no library.
   Every text shown comes from the server, already translated. */
"use strict";
function tablecronJobForm() {
    const form = document.getElementById("job_form");
    if (!form) {
        return;
    }

    // Which rows each kind of schedule shows; the others are hidden (and cleared on save).
    const WINDOW = ["start_at", "end_at", "jitter", "upcoming"];
    const KIND_ROWS = {
        cron: ["cron", "timezone", ...WINDOW],
        interval: ["interval", ...WINDOW],
        once: ["run_at", "upcoming"],
        after: ["after", "upcoming"],
        manual: ["upcoming"],
    };
    const ALL_ROWS = ["cron", "timezone", "interval", "run_at", "after", ...WINDOW];
    // The inputs the upcoming fire times depend on: the schedule fields the server names.
    const upcomingBox = form.querySelector(".tablecron-upcoming");
    const UPCOMING_INPUTS = upcomingBox ? ["schedule_kind", ...upcomingBox.dataset.fields.split(" ")] : [];

    function row(name) {
        return form.querySelector(".form-row.field-" + name);
    }

    function chosenKind() {
        const checked = form.querySelector("input[name=schedule_kind]:checked");
        return checked ? checked.value : "cron";
    }

    function showKind() {
        const shown = KIND_ROWS[chosenKind()] || ALL_ROWS;
        for (const name of ALL_ROWS) {
            const element = row(name);
            if (element) {
                element.classList.toggle("hidden", !shown.includes(name));
            }
        }
    }

    // The task's signature and docstring, from the JSON the widget rendered beside it.
    function describeTask() {
        const select = form.querySelector("select[name=task]");
        const info = form.querySelector(".tablecron-task-info");
        if (!select || !info) {
            return;
        }
        const data = JSON.parse(document.getElementById(info.dataset.tasks).textContent);
        const task = data[select.value] || {signature: "", doc: ""};
        info.querySelector(".tablecron-signature").textContent = task.signature;
        info.querySelector(".tablecron-doc").textContent = task.doc;
    }

    // Live field errors from the upcoming view's answer, under their fields; the server's
    // own errors (after a submit) stay as they are.
    function clearLiveErrors() {
        for (const list of form.querySelectorAll("ul.tablecron-live-errors")) {
            list.remove();
        }
    }

    function showLiveErrors(errors) {
        const unplaced = [];
        for (const [name, messages] of Object.entries(errors)) {
            // A field sharing its row with another has its own box in the row.
            const target = form.querySelector(".fieldBox.field-" + name) || row(name);
            const list = document.createElement("ul");
            list.className = "errorlist tablecron-live-errors";
            for (const message of messages) {
                const item = document.createElement("li");
                item.textContent = message;
                list.append(item);
            }
            if (target && !row(name).classList.contains("hidden")) {
                (target.querySelector(".flex-container") || target).append(list);
            } else {
                unplaced.push(list);
            }
        }
        return unplaced;
    }

    let timer = null;
    let latest = 0;

    async function showUpcoming() {
        if (!upcomingBox) {
            return;
        }
        const request = ++latest;
        const response = await fetch(upcomingBox.dataset.url, {
            method: "POST",
            body: new FormData(form),
            headers: {"X-Requested-With": "XMLHttpRequest"},
            credentials: "same-origin",
        });
        if (request !== latest || !response.ok) {
            return; // a newer answer is on its way, or the session ended
        }
        const data = await response.json();
        clearLiveErrors();
        upcomingBox.innerHTML = data.html;
        for (const list of showLiveErrors(data.errors)) {
            upcomingBox.append(list);
        }
        upcomingBox.dataset.state = Object.keys(data.errors).length ? "errors" : "ok";
    }

    function showUpcomingSoon() {
        clearTimeout(timer);
        timer = setTimeout(showUpcoming, 300);
    }

    function isUpcomingInput(target) {
        const name = (target.name || "").replace(/_[01]$/, ""); // split date and time inputs
        return UPCOMING_INPUTS.includes(name);
    }

    form.addEventListener("input", (event) => {
        if (isUpcomingInput(event.target)) {
            showUpcomingSoon();
        }
    });
    form.addEventListener("change", (event) => {
        if (event.target.name === "schedule_kind") {
            showKind();
        }
        if (event.target.name === "task") {
            describeTask();
        }
        if (isUpcomingInput(event.target)) {
            showUpcomingSoon();
        }
    });
    // The admin's autocomplete (Select2, for the job to run after) announces a choice
    // with jQuery's events only, which native listeners never see.
    if (window.django && window.django.jQuery) {
        window.django.jQuery(form).on("select2:select select2:clear", (event) => {
            if (isUpcomingInput(event.target)) {
                showUpcomingSoon();
            }
        });
    }
    // The admin's calendar and clock widgets set values without input events.
    form.addEventListener("focusout", (event) => {
        if (isUpcomingInput(event.target)) {
            showUpcomingSoon();
        }
    });

    showKind();
    describeTask();
    if (!form.querySelector(".errorlist")) {
        showUpcoming();
    }
}

// The admin puts form media in <head>: wait for the form.
if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", tablecronJobForm);
} else {
    tablecronJobForm();
}
