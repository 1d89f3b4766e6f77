#!/usr/bin/env node
/**
 * Draws kofn's app icons (PNG, 192 and 512 px) with no image library: a dark square with three share
 * bars, two of them lit (k of n). PNG written by hand: IHDR, one zlib IDAT, IEND (RFC 2083).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'static', 'icons');
mkdirSync(out, { recursive: true });

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

function icon(size) {
  const px = (x, y) => {
    const u = x / size;
    const v = y / size;
    const bg = [0x1b, 0x1f, 0x24];
    const bars = [
      [0.2, 0.33, [0x2f, 0x81, 0xf7]],
      [0.4, 0.53, [0x2f, 0x81, 0xf7]],
      [0.6, 0.73, [0x57, 0x60, 0x6a]]
    ];
    for (const [a, b, c] of bars) if (v > 0.25 && v < 0.75 && u > a && u < b) return c;
    return bg;
  };
  const raw = Buffer.alloc(size * (size * 3 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b] = px(x, y);
      const o = y * (size * 3 + 1) + 1 + x * 3;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

for (const size of [192, 512]) writeFileSync(join(out, `icon-${size}.png`), icon(size));
process.stdout.write(`icons written to ${out}\n`);
