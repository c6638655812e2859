// The geometry of the convolution being run (set once per call by convGeometry), shared by the im2col and direct paths.

export let gN: i32 = 0, gC: i32 = 0, gH: i32 = 0, gW: i32 = 0, gO: i32 = 0, gKh: i32 = 0, gKw: i32 = 0;
export let gSh: i32 = 1, gSw: i32 = 1, gPh: i32 = 0, gPw: i32 = 0, gDh: i32 = 1, gDw: i32 = 1, gG: i32 = 1;
export let gOutH: i32 = 0, gOutW: i32 = 0;

export function setGeometry(
  n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dh: i32, dw: i32, groups: i32, outH: i32, outW: i32,
): void {
  gN = n; gC = c; gH = h; gW = w; gO = o; gKh = kh; gKw = kw; gSh = sh; gSw = sw;
  gPh = ph; gPw = pw; gDh = dh; gDw = dw; gG = groups; gOutH = outH; gOutW = outW;
}

/** Channels per group in and out, the reduction length K = C/g·kh·kw and the output plane size. */
// @ts-ignore: decorator
@inline export function cg(): i32 { return gC / gG; }
// @ts-ignore: decorator
@inline export function og(): i32 { return gO / gG; }
// @ts-ignore: decorator
@inline export function kdim(): i32 { return (gC / gG) * gKh * gKw; }
// @ts-ignore: decorator
@inline export function plane(): i32 { return gOutH * gOutW; }
/** og rounded up to the micro-kernel width. */
// @ts-ignore: decorator
@inline export function ogPad(): i32 { return ((gO / gG) + 7) & ~7; }
