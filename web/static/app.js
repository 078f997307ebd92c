// The page: choose a photo and a style, upload it with the presigned POST the API answers, then poll its status.
// Every bound, default and error message comes from the API (web/api.py); nothing is restated here.
"use strict";

const RECENT_KEY = "nst-recent-uploads";
const RECENT_MAX = 10;
const POLL_MS = 1000;
const POLL_MAX_MS = 5000;
const REQUEST_TIMEOUT_MS = 15000;

const $ = (id) => document.getElementById(id);
let apiBase = "";
let chosenFile = null;
let polling = null;

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(apiBase + path, { ...options, signal: controller.signal });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(body.detail || `the server answered ${response.status}`);
    }
    return body;
  } catch (error) {
    if (error.name === "AbortError") throw new Error("the server did not answer in time; try again");
    if (error instanceof TypeError) throw new Error("the server could not be reached; check your connection");
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

// --- the form ----------------------------------------------------------------------------------------------

function renderStyles(answer) {
  const fieldset = $("styles");
  $("styles-loading").remove();
  if (!answer.styles.length) {
    fieldset.insertAdjacentHTML("beforeend", '<p class="hint">No styles in the bucket yet.</p>');
    return;
  }
  for (const style of answer.styles) {
    const id = `style-${style.name}`;
    const choice = document.createElement("div");
    choice.className = "style-choice";
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "style", id, value: style.name });
    input.checked = style.name === answer.default;
    const label = document.createElement("label");
    label.htmlFor = id;
    const image = Object.assign(document.createElement("img"), { src: style.thumbnail_url, alt: "" });
    label.append(image, document.createTextNode(style.name));
    choice.append(input, label);
    fieldset.append(choice);
  }
}

function renderOptions(answer) {
  const fieldset = $("options");
  for (const control of answer.controls) {
    const label = document.createElement("label");
    let field;
    if (control.kind === "choice") {
      field = document.createElement("select");
      for (const choice of control.choices) field.add(new Option(choice, choice, false, choice === control.default));
    } else {
      field = Object.assign(document.createElement("input"), { type: "number", min: control.min, max: control.max });
      field.step = control.kind === "int" ? "1" : "any";
      field.value = control.default;
      field.required = true;
    }
    field.name = control.key;
    field.id = `option-${control.key}`;
    field.dataset.default = String(control.default);
    const help = document.createElement("small");
    help.textContent = control.help;
    label.append(document.createTextNode(control.label), field, help);
    fieldset.append(label);
  }
}

function chosenOptions() {
  // Only what differs from the default is sent: the launch plan's defaults apply to the rest.
  const options = {};
  for (const field of $("options").querySelectorAll("input, select")) {
    if (String(field.value) !== field.dataset.default) options[field.name] = String(field.value);
  }
  return options;
}

function choosePhoto(file) {
  chosenFile = file || null;
  showError("");
  const preview = $("photo-preview");
  if (!file) {
    preview.hidden = true;
    return;
  }
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
}

function wireDropZone() {
  const zone = $("drop");
  $("file").addEventListener("change", (event) => choosePhoto(event.target.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) choosePhoto(event.dataTransfer.files[0]);
  });
}

// --- upload --------------------------------------------------------------------------------------------------

function s3Error(xhr) {
  // S3 answers a refused POST with XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>.
  const xml = xhr.responseXML || new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
  const code = xml.querySelector("Code")?.textContent;
  const message = xml.querySelector("Message")?.textContent;
  if (code === "EntityTooLarge") return "the photo is too large for the upload limit";
  if (code === "AccessDenied" && /expired/i.test(message || "")) return "the upload permission expired; try again";
  return `the storage refused the upload (${code || xhr.status}${message ? ": " + message : ""})`;
}

function uploadWithProgress(upload, file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file); // last: S3 ignores fields after the file
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.timeout = 30 * 60 * 1000;
    const bar = $("upload-progress");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.value = Math.round((100 * event.loaded) / event.total);
        bar.textContent = `${bar.value}%`;
      }
    });
    xhr.addEventListener("load", () => (xhr.status < 300 ? resolve() : reject(new Error(s3Error(xhr)))));
    xhr.addEventListener("error", () => reject(new Error("the upload failed: the storage could not be reached")));
    xhr.addEventListener("timeout", () => reject(new Error("the upload took too long and was stopped")));
    xhr.send(form);
  });
}

async function stylize(event) {
  event.preventDefault();
  showError("");
  const style = document.querySelector('input[name="style"]:checked')?.value;
  if (!chosenFile) return showError("Choose a photo first.");
  if (!style) return showError("Choose a style first.");
  const button = $("submit");
  button.disabled = true;
  try {
    const answer = await api("/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        file_name: chosenFile.name,
        content_type: chosenFile.type,
        size: chosenFile.size,
        style,
        options: chosenOptions(),
      }),
    });
    resetProgress();
    $("progress-section").scrollIntoView({ block: "start" });
    setStatus("Uploading…");
    await uploadWithProgress(answer.upload, chosenFile);
    remember({ id: answer.id, name: chosenFile.name, style, at: new Date().toISOString() });
    follow(answer.id);
  } catch (error) {
    showError(`Could not start: ${error.message}.`);
    setStatus("");
  } finally {
    button.disabled = false;
  }
}

// --- status --------------------------------------------------------------------------------------------------

function resetProgress() {
  $("progress-section").hidden = false;
  $("result-section").hidden = true;
  $("preview-figure").hidden = true;
  $("upload-progress").value = 0;
}

function setStatus(text) {
  $("status").textContent = text;
}

function describe(status) {
  const loss = typeof status.loss === "number" ? `, loss ${status.loss.toExponential(3)}` : "";
  const seconds = typeof status.seconds === "number" ? `, ${status.seconds.toFixed(0)} s` : "";
  switch (status.state) {
    case "queued":
      return "Uploaded. Waiting for the painter to start…";
    case "preview":
      return "The instant preview is ready; painting at full quality…";
    case "running":
      return `Painting: epoch ${status.epoch ?? "?"} of ${status.epochs ?? "?"}, ${status.steps ?? 0} steps${loss}${seconds}`;
    case "done":
      return `Done${status.steps ? ` after ${status.steps} steps` : ""}${seconds}.`;
    case "skipped":
      return `Not painted: ${status.reason}`;
    case "refused":
      return `Refused: ${status.reason}`;
    case "failed":
      return status.retrying ? `A step failed and will be retried: ${status.reason}` : `Failed: ${status.reason}`;
    default:
      return `Unknown state${status.reason ? `: ${status.reason}` : ""}; still watching.`;
  }
}

function follow(id) {
  if (polling) clearTimeout(polling);
  $("progress-section").hidden = false;
  $("upload-progress").value = 100;
  let delay = POLL_MS;
  let shown = "";
  const poll = async () => {
    let status;
    try {
      status = await api(`/uploads/${encodeURIComponent(id)}`);
      delay = POLL_MS;
    } catch (error) {
      setStatus(`Still waiting (${error.message})…`);
      delay = Math.min(delay * 2, POLL_MAX_MS);
      polling = setTimeout(poll, delay);
      return;
    }
    setStatus(describe(status));
    document.body.dataset.state = status.state;
    // The preview image is replaced after each epoch: load it again only when the record changed.
    const version = JSON.stringify([status.state, status.epoch, status.steps]);
    if (status.preview_url && version !== shown) {
      shown = version;
      $("preview").src = status.preview_url;
      $("preview-caption").textContent = status.state === "preview" ? "Instant preview" : `After epoch ${status.epoch}`;
      $("preview-figure").hidden = false;
    }
    if (status.state === "done") {
      $("result").src = status.result_url;
      const link = $("download");
      link.href = status.result_url;
      link.download = status.result_name;
      $("result-section").hidden = false;
      $("preview-figure").hidden = true;
    } else if (status.final) {
      showError(describe(status));
    }
    if (!status.final) polling = setTimeout(poll, delay);
  };
  poll();
}

// --- recent uploads (this browser only) ----------------------------------------------------------------------

function recent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function remember(entry) {
  const list = [entry, ...recent().filter((item) => item.id !== entry.id)].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  renderRecent();
}

function renderRecent() {
  const list = $("recent");
  list.replaceChildren();
  for (const item of recent()) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${item.name} in ${item.style}, ${new Date(item.at).toLocaleString()}`;
    button.addEventListener("click", () => {
      showError("");
      resetProgress();
      follow(item.id);
    });
    const entry = document.createElement("li");
    entry.append(button);
    list.append(entry);
  }
  if (!list.children.length) list.innerHTML = "<li>None yet.</li>";
}

// --- start ---------------------------------------------------------------------------------------------------

async function start() {
  wireDropZone();
  renderRecent();
  $("stylize").addEventListener("submit", stylize);
  try {
    const config = await fetch("config.json").then((response) => (response.ok ? response.json() : {}));
    apiBase = (config.apiBase || "").replace(/\/$/, "");
    const [options, styles] = await Promise.all([api("/options"), api("/styles")]);
    renderOptions(options);
    renderStyles(styles);
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(`The page could not load its settings: ${error.message}.`);
  }
}

start();
