// What static/js/upload-worker.js uses of libheif-js's JavaScript API (libheif-js README, "Usage").

/** Where display() writes RGBA pixels: an ImageData or anything shaped like one. */
export interface PixelTarget {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

export interface HeifImage {
  get_width(): number;
  get_height(): number;
  /** Decodes into target and calls back with it, or with null when decoding failed. */
  display(target: PixelTarget, callback: (result: PixelTarget | null) => void): void;
  free?(): void;
}

export interface LibHeif {
  HeifDecoder: new () => { decode(data: Uint8Array): HeifImage[] };
}

/** Instantiates the WebAssembly module that the bundle carries. */
export default function libheif(options?: object): Promise<LibHeif>;
