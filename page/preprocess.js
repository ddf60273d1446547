// A drawing -> the 28x28 light-on-dark frame MNIST's digits come in: lenet5/serving/digits.py, step for step.
//
// The same recipe as `lenet5-predict`: invert dark-on-light pictures, stretch the ink to [0, 1],
// crop to the ink's bounding box, scale it to fit 20x20 (Pillow's BOX resampling, reproduced
// here), and place it so its centre of mass is at the frame's centre. A 28x28 picture is taken as
// already framed. Arithmetic is float32 where NumPy's is, and rounding is half to even as
// Python's, so a drawing saved as PNG gives lenet5-predict the same 28x28 frame.

export const MNIST_SIZE = 28;
const DIGIT_BOX = 20;
const INK_THRESHOLD = 0.1; // of the stretched 0..1 range: fainter pixels are paper, not ink
const f32 = Math.fround;

export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function median(values) {
  const sorted = Float32Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : f32((sorted[middle - 1] + sorted[middle]) / 2);
}

// RGBA bytes (as a canvas gives them) -> float32 gray in [0, 1], as Pillow's convert("L") then / 255.
export function grayscale(rgba, width, height) {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    gray[i] = f32(((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255);
  }
  return gray;
}

// Invert when the border (the paper) is brighter than mid-grey, as in a scan or photo.
export function lightOnDark(gray, width, height) {
  const border = [];
  for (let x = 0; x < width; x++) border.push(gray[x], gray[(height - 1) * width + x]);
  for (let y = 0; y < height; y++) border.push(gray[y * width], gray[y * width + width - 1]);
  if (median(border) <= 0.5) return gray;
  return gray.map((v) => f32(1 - v));
}

// Pillow's resampling coefficients for the BOX filter along one axis (ImagingResample's precompute_coeffs).
function boxCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  const rows = [];
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
    const weights = [];
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const at = (x + xmin - centre + 0.5) / filterScale;
      const weight = at > -0.5 && at <= 0.5 ? 1 : 0;
      weights.push(weight);
      total += weight;
    }
    rows.push({ xmin, weights: weights.map((w) => (total ? w / total : 0)) });
  }
  return rows;
}

// Pillow's resize of a float32 ("F") image with BOX: horizontal pass, then vertical, float32 between.
function resizeBox(pixels, width, height, outWidth, outHeight) {
  let current = pixels;
  let currentWidth = width;
  if (outWidth !== width) {
    const columns = boxCoefficients(width, outWidth);
    const next = new Float32Array(outWidth * height);
    for (let y = 0; y < height; y++) {
      columns.forEach(({ xmin, weights }, xx) => {
        let sum = 0;
        weights.forEach((w, x) => (sum += current[y * width + xmin + x] * w));
        next[y * outWidth + xx] = sum;
      });
    }
    current = next;
    currentWidth = outWidth;
  }
  if (outHeight !== height) {
    const rows = boxCoefficients(height, outHeight);
    const next = new Float32Array(currentWidth * outHeight);
    rows.forEach(({ xmin, weights }, yy) => {
      for (let x = 0; x < currentWidth; x++) {
        let sum = 0;
        weights.forEach((w, y) => (sum += current[(xmin + y) * currentWidth + x] * w));
        next[yy * currentWidth + x] = sum;
      }
    });
    current = next;
  }
  return current;
}

// Light-on-dark gray of any size -> 28x28 float32 framed by MNIST's recipe; null when blank.
export function frameLikeMnist(ink, width, height) {
  let peak = 0;
  for (const v of ink) peak = Math.max(peak, v);
  const background = median(ink);
  if (peak - background < INK_THRESHOLD) return null;
  const range = f32(peak - background);
  const stretched = ink.map((v) => Math.min(Math.max(f32(f32(v - background) / range), 0), 1));
  let [top, bottom, left, right] = [height, -1, width, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (stretched[y * width + x] > INK_THRESHOLD) {
        [top, bottom] = [Math.min(top, y), Math.max(bottom, y)];
        [left, right] = [Math.min(left, x), Math.max(right, x)];
      }
    }
  }
  const [boxHeight, boxWidth] = [bottom - top + 1, right - left + 1];
  const box = new Float32Array(boxHeight * boxWidth);
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0; x < boxWidth; x++) box[y * boxWidth + x] = stretched[(top + y) * width + left + x];
  }
  const scale = DIGIT_BOX / Math.max(boxHeight, boxWidth);
  const rows = Math.max(1, roundHalfEven(boxHeight * scale));
  const columns = Math.max(1, roundHalfEven(boxWidth * scale));
  const digit = resizeBox(box, boxWidth, boxHeight, columns, rows);
  let [total, rowMoment, columnMoment] = [0, 0, 0];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const v = digit[y * columns + x];
      total += v;
      rowMoment += v * y;
      columnMoment += v * x;
    }
  }
  const clip = (v, low, high) => Math.min(Math.max(v, low), high);
  const frameTop = clip(roundHalfEven(MNIST_SIZE / 2 - rowMoment / total), 0, MNIST_SIZE - rows);
  const frameLeft = clip(roundHalfEven(MNIST_SIZE / 2 - columnMoment / total), 0, MNIST_SIZE - columns);
  const frame = new Float32Array(MNIST_SIZE * MNIST_SIZE);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      frame[(frameTop + y) * MNIST_SIZE + frameLeft + x] = clip(digit[y * columns + x], 0, 1);
    }
  }
  return frame;
}

// RGBA pixels of any size -> uint8 (28 x 28) light-on-dark, as lenet5-predict reads a picture; null when blank.
export function readDigit(rgba, width, height) {
  const gray = lightOnDark(grayscale(rgba, width, height), width, height);
  const frame = width === MNIST_SIZE && height === MNIST_SIZE ? gray : frameLikeMnist(gray, width, height);
  if (frame === null) return null;
  return Uint8Array.from(frame, (v) => roundHalfEven(f32(v * 255)));
}
