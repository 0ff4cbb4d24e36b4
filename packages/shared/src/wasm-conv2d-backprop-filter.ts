import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropFilterInputs,
  KernelBackend,
  KernelConfig,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';

/**
 * The wasm backend (tfjs 4.22) ships no `Conv2DBackpropFilter`, so the gradient of a
 * convolution with respect to its filter, and thus training any CNN, fails there.
 * This kernel builds it from wasm kernels that do exist (Transpose, Conv2D, Slice):
 *
 *   dW[fh, fw, ci, co] = Σ_{b, oh, ow} x[b, oh·s + fh − padTop, ow·s + fw − padLeft, ci] · dy[b, oh, ow, co]
 *
 * which is a stride-1 convolution of x seen as [ci, H, W, b] (channels act as the batch,
 * the batch acts as the input channels) with dy seen as the filter [outH, outW, b, co],
 * dilated by the forward stride. Its output is [ci, fh', fw', co]; the forward pad is
 * applied at the top/left, and the bottom/right is padded or cropped so that fh' = fh.
 */

const KERNEL_NAME = 'Conv2DBackpropFilter';
const BACKEND_NAME = 'wasm';

type KernelArgs = { inputs: Conv2DBackpropFilterInputs; backend: KernelBackend; attrs: NamedAttrMap };

function wasmKernel(name: string): (args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs?: NamedAttrMap }) => TensorInfo {
  const config = tf.getKernel(name, BACKEND_NAME);
  if (config === undefined) {
    throw new Error(`wasm backend has no '${name}' kernel, needed by ${KERNEL_NAME}`);
  }
  return config.kernelFunc as never;
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function conv2dBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs & { dilations?: number | [number, number] };
  const { x, dy } = inputs;
  if (x === undefined || dy === undefined) {
    throw new Error(`${KERNEL_NAME} (wasm): inputs x and dy are required`);
  }
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${KERNEL_NAME} (wasm): only dataFormat 'NHWC' is supported, got '${attrs.dataFormat}'`);
  }
  if (attrs.dilations !== undefined && pair(attrs.dilations).some((d) => d !== 1)) {
    throw new Error(`${KERNEL_NAME} (wasm): only dilations of 1 are supported, got ${JSON.stringify(attrs.dilations)}`);
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4 || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`${KERNEL_NAME} (wasm): x and dy must be float32 rank-4 tensors`);
  }

  const xShape = x.shape as [number, number, number, number];
  const [filterHeight, filterWidth, inChannels, outChannels] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const expectedDy = [xShape[0], info.outHeight, info.outWidth, outChannels];
  if (dy.shape.some((size, i) => size !== expectedDy[i])) {
    throw new Error(`${KERNEL_NAME} (wasm): dy shape [${dy.shape.join(',')}] does not match [${expectedDy.join(',')}]`);
  }

  const transpose = wasmKernel('Transpose');
  const conv2d = wasmKernel('Conv2D');
  const slice = wasmKernel('Slice');
  const intermediates: TensorInfo[] = [];
  const keep = (t: TensorInfo): TensorInfo => {
    intermediates.push(t);
    return t;
  };
  try {
    const xT = keep(transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } }));
    const dyT = keep(transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }));

    // Output rows of the helper conv: inH + padTop + padBottom − (outH − 1)·strideH. Pad the bottom
    // just enough to reach filterHeight; when even zero padding gives more rows (input rows the
    // forward pass never read), crop them below.
    const [inHeight, inWidth] = [xShape[1], xShape[2]];
    const { top, left } = info.padInfo;
    const bottom = Math.max(0, filterHeight + (info.outHeight - 1) * info.strideHeight - inHeight - top);
    const right = Math.max(0, filterWidth + (info.outWidth - 1) * info.strideWidth - inWidth - left);
    const explicitPad: tf.backend_util.ExplicitPadding = [[0, 0], [top, bottom], [left, right], [0, 0]];
    let grad = keep(
      conv2d({
        inputs: { x: xT, filter: dyT },
        backend,
        attrs: {
          strides: [1, 1],
          pad: explicitPad,
          dataFormat: 'NHWC',
          dilations: [info.strideHeight, info.strideWidth],
        },
      }),
    );
    if (grad.shape[1] !== filterHeight || grad.shape[2] !== filterWidth) {
      grad = keep(
        slice({
          inputs: { x: grad },
          backend,
          attrs: { begin: [0, 0, 0, 0], size: [inChannels, filterHeight, filterWidth, outChannels] },
        }),
      );
    }
    const result = transpose({ inputs: { x: grad }, backend, attrs: { perm: [1, 2, 0, 3] } });
    return result;
  } finally {
    for (const t of intermediates) {
      backend.disposeData(t.dataId);
    }
  }
}

export const wasmConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: KERNEL_NAME,
  backendName: BACKEND_NAME,
  kernelFunc: conv2dBackpropFilter as unknown as KernelConfig['kernelFunc'],
};

/** Registers the kernel once; a kernel already present for wasm (ours or a future tfjs one) is kept. */
export function registerWasmConv2dBackpropFilter(): void {
  if (tf.getKernel(KERNEL_NAME, BACKEND_NAME) === undefined) {
    tf.registerKernel(wasmConv2dBackpropFilterConfig);
  }
}
