// The draw-a-digit page: a pad to draw on, the pipeline's int8 model run by LiteRT.js, its answer.
//
// model.json (written by stages/page.py) says the data set, its class names, the int8 output's
// quantization and the pipeline's own results. Every bad state says one line in #status.
//
// Hook for tests and scripts (documented in docs/page.md): window.lenet5 = {
//   ready: a Promise settled once the model is loaded (or has failed to),
//   classifyPixels(pixels): Promise of the probabilities for uint8 pixels of a 28x28 picture,
//     light on dark or dark on light, given as lenet5-predict reads a 28x28 file,
//   lastInput: the uint8 28x28 frame the model saw last, lastProbabilities, lastLatencyMs
//     (from the end of a stroke to the prediction on the page), all null after a clear,
//   pending: strokes whose prediction is not on the page yet (0 once the page shows the last) }

import { loadAndCompile, loadLiteRt, Tensor } from "./vendor/litertjs/core/index.js";
import { MNIST_SIZE, readDigit } from "./preprocess.js";

const $ = (id) => document.getElementById(id);
const pad = $("digit-pad");
const context = pad.getContext("2d", { willReadFrequently: true });
const hook = { lastInput: null, lastProbabilities: null, lastLatencyMs: null, pending: 0 };
let answering = Promise.resolve(); // one prediction at a time, in the order of the strokes
window.lenet5 = hook;
let model = null;
let manifest = null;
let noun = "a digit";

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function clearPad() {
  context.fillStyle = "#000";
  context.fillRect(0, 0, pad.width, pad.height);
  $("prediction").textContent = "";
  $("model-input").getContext("2d").clearRect(0, 0, MNIST_SIZE, MNIST_SIZE);
  drawBars(null);
  Object.assign(hook, { lastInput: null, lastProbabilities: null, lastLatencyMs: null });
  if (model) say(`Draw ${noun}`);
}

function drawBars(probabilities) {
  const bars = $("bars");
  bars.replaceChildren();
  if (!manifest) return;
  const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  manifest.classes.forEach((name, index) => {
    const p = probabilities ? probabilities[index] : 0;
    const row = document.createElement("li");
    row.classList.toggle("top", index === best);
    row.innerHTML = '<span class="label"></span><span class="bar"></span><span class="value"></span>';
    row.querySelector(".label").textContent = name;
    row.querySelector(".bar").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".value").textContent = probabilities ? `${(p * 100).toFixed(1)}%` : "";
    bars.append(row);
  });
}

function showInput(pixels) {
  const image = new ImageData(MNIST_SIZE, MNIST_SIZE);
  pixels.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
  $("model-input").getContext("2d").putImageData(image, 0, 0);
}

// uint8 28x28 frame -> probabilities, with the int8 model's uint8 in and out (steps of 1/256).
async function probabilitiesOf(pixels) {
  const input = new Tensor(Uint8Array.from(pixels), [1, MNIST_SIZE, MNIST_SIZE, 1]);
  const outputs = await model.run(input);
  input.delete();
  const output = await outputs[0].moveTo("wasm");
  const quantized = Array.from(output.toTypedArray());
  output.delete();
  outputs.forEach((tensor) => tensor.delete());
  const { scale, zero_point: zero } = manifest.output;
  return quantized.map((q) => (q - zero) * scale);
}

async function answer(pixels, started) {
  const probabilities = await probabilitiesOf(pixels);
  const best = probabilities.indexOf(Math.max(...probabilities));
  $("prediction").textContent = `${manifest.classes[best]} (${(probabilities[best] * 100).toFixed(0)}%)`;
  showInput(pixels);
  drawBars(probabilities);
  say(`Draw another ${noun.replace(/^an? /, "")}, or keep drawing`);
  Object.assign(hook, { lastInput: pixels, lastProbabilities: probabilities });
  hook.lastLatencyMs = performance.now() - started;
  return probabilities;
}

async function readPad(started) {
  const { data } = context.getImageData(0, 0, pad.width, pad.height);
  const pixels = readDigit(data, pad.width, pad.height);
  if (pixels === null) {
    clearPad();
    return null;
  }
  return answer(pixels, started);
}

hook.classifyPixels = async (pixels) => {
  if (!model) throw new Error("the model is not loaded");
  const rgba = new Uint8ClampedArray(4 * MNIST_SIZE * MNIST_SIZE);
  Array.from(pixels).forEach((v, i) => rgba.set([v, v, v, 255], 4 * i));
  return answer(readDigit(rgba, MNIST_SIZE, MNIST_SIZE), performance.now());
};

function strokes() {
  let last = null;
  const at = (event) => {
    const box = pad.getBoundingClientRect();
    return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
  };
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = at(event);
    context.strokeStyle = "#fff";
    context.fillStyle = "#fff";
    context.lineWidth = 20; // MNIST's pen: about 2 px of the 28, here 280 px a side
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.arc(last[0], last[1], context.lineWidth / 2, 0, 2 * Math.PI);
    context.fill();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...point);
    context.stroke();
    last = point;
  });
  const end = () => {
    if (!last) return;
    last = null;
    if (!model) return;
    const started = performance.now();
    hook.pending += 1;
    answering = answering.then(() => readPad(started)).finally(() => (hook.pending -= 1));
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
}

function showResults() {
  const { results, classes } = manifest;
  $("scores").textContent =
    `On the ${results.test_images.toLocaleString("en")} test images of ${manifest.dataset}: ` +
    `${(results.test_accuracy * 100).toFixed(2)}% right with the model as trained, ` +
    `${(results.int8_accuracy * 100).toFixed(2)}% with this int8 file.`;
  const table = $("confusion");
  const head = document.createElement("tr");
  head.append(document.createElement("th"), ...classes.map((name) => Object.assign(document.createElement("th"), { textContent: name })));
  table.replaceChildren(head);
  results.confusion.forEach((row, actual) => {
    const line = document.createElement("tr");
    line.append(Object.assign(document.createElement("th"), { textContent: classes[actual] }));
    row.forEach((count, predicted) => {
      const cell = Object.assign(document.createElement("td"), { textContent: count });
      cell.className = actual === predicted ? "hit" : count ? "miss" : "";
      line.append(cell);
    });
    table.append(line);
  });
}

async function start() {
  if (typeof WebAssembly !== "object") {
    say("This browser has no WebAssembly, which the model needs to run here.", true);
    return;
  }
  const response = await fetch("model.json").catch((error) => error);
  if (!(response instanceof Response) || !response.ok) {
    say(`The model could not be loaded (model.json: ${response.status ? `HTTP ${response.status}` : response.message}).`, true);
    return;
  }
  manifest = await response.json();
  noun = manifest.noun;
  document.title = `LeNet-5: draw ${noun}`;
  $("title").textContent = `LeNet-5 on ${manifest.dataset}: draw ${noun}`;
  showResults();
  drawBars(null);
  // The runtime's native log (Emscripten's printErr, console.error by default) says what it set up
  // on every load: INFO and WARNING lines go to the console's info and warning levels instead.
  window.Module = {
    printErr: (line) => {
      const level = /^INFO:|^Created TensorFlow Lite/.test(line) ? "info" : /^WARNING:/.test(line) ? "warn" : "error";
      console[level](line);
    },
  };
  try {
    await loadLiteRt("./vendor/litertjs/wasm/");
    model = await loadAndCompile("./model.tflite", { accelerator: "wasm" });
  } catch (error) {
    say(`The model could not be loaded (${String(error.message || error).split("\n")[0]}).`, true);
    return;
  }
  clearPad();
}

clearPad();
strokes();
$("clear").addEventListener("click", clearPad);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") clearPad();
});
hook.ready = start().catch((error) => say(`The page failed to start (${error.message}).`, true));
