/**
 * Audio and video previews and the administrator's preview limit (issue #18), against the built app, real
 * relays and real Chromium. The media are made in the test: a WAV written byte by byte (RIFF header and
 * 16-bit PCM of a 440 Hz tone), and a WebM recorded from a canvas by the page's own MediaRecorder (VP8),
 * so Chromium plays both. Each is retrieved and authenticated into memory and played from a blob: URL (the
 * tone's length is its 1.00 s, the clip's frame its 160x120, and the tone's time moves as it plays), and on
 * close the URL is revoked (a fresh media element can no longer load it) and the element is gone. The limit: 64 MiB by default; an administrator sets it on the admin page (persisted:
 * the API and a reload say so); past it the preview explains why and offers a retrieval; a regular user
 * cannot change it; bad values are 400 WRONG_VALUE.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect } from '../fixtures.js';
import { chooseSharing, errorCode, opfsSha256, ready, saveToOpfs } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kofn-e2e-media-'));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** A mono 16-bit PCM WAV of `seconds` of a 440 Hz tone (RIFF/WAVE header by hand: 44 bytes, then samples). */
function wav(seconds: number, rate = 8000): Uint8Array {
  const samples = Math.round(seconds * rate);
  const out = Buffer.alloc(44 + samples * 2);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16); // fmt chunk size
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * 2, 28); // byte rate
  out.writeUInt16LE(2, 32); // block align
  out.writeUInt16LE(16, 34); // bits per sample
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) out.writeInt16LE(Math.round(12_000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return new Uint8Array(out);
}

/** About a second of 160x120 VP8 WebM, recorded in the page from a canvas (MediaRecorder). */
async function webm(page: Page): Promise<Uint8Array> {
  const b64 = await page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const g = canvas.getContext('2d')!;
    const stream = canvas.captureStream(25);
    const rec = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8' });
    const parts: Blob[] = [];
    rec.ondataavailable = (e) => parts.push(e.data);
    const stopped = new Promise((resolve) => (rec.onstop = resolve));
    rec.start();
    for (let f = 0; f < 25; f++) {
      g.fillStyle = `hsl(${f * 14}, 80%, 50%)`;
      g.fillRect(0, 0, 160, 120);
      g.fillStyle = '#fff';
      g.fillText(`frame ${f}`, 10, 60);
      await new Promise((r) => setTimeout(r, 40));
    }
    rec.stop();
    await stopped;
    const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  });
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function fileOf(name: string, data: Uint8Array): { path: string; sha256: string } {
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: sha256(data) };
}

/**
 * Whether a blob: URL still plays in the page: a fresh media element loads it ('loaded <duration>') or
 * fails ('revoked'). A media element, not fetch(): the page's policy lets blob: URLs into media only
 * (connect-src has no blob:), which this also checks.
 */
const plays = (page: Page, url: string) =>
  page.evaluate(
    (u) =>
      new Promise<string>((resolve) => {
        const el = document.createElement('video');
        el.muted = true;
        el.onloadedmetadata = () => resolve(`loaded ${el.duration.toFixed(2)}`);
        el.onerror = () => resolve('revoked');
        el.src = u;
      }),
    url
  );

test('audio and video previews play from memory and are released on close; the administrator sets the preview limit', async ({ admin, browser, stack }) => {
  test.setTimeout(180_000);
  const { page } = admin;
  const tag = randomBytes(3).toString('hex');
  expect((await (await admin.get('/api/preview-limit')).json()) as unknown).toEqual({ previewLimit: 64 * MiB });
  await saveToOpfs(page);
  await page.goto('/');
  await chooseSharing(page, 2, 3);
  const files = {
    wav: fileOf(`tone-${tag}.wav`, wav(1)),
    webm: fileOf(`clip-${tag}.webm`, await webm(page)),
    big: fileOf(`long-${tag}.wav`, wav(70)) // 1.1 MB: over the 1 MiB limit set below
  };
  await ready(page);
  await page.getByTestId('file-input').setInputFiles(Object.values(files).map((f) => f.path));
  for (const f of Object.values(files)) {
    const name = f.path.split('/').pop()!;
    await expect(page.getByTestId('file-row').filter({ has: page.getByText(name, { exact: true }) })).toHaveCount(1, { timeout: 120_000 });
  }
  const dialog = page.getByTestId('preview-dialog');
  const open = (name: string) => page.getByRole('button', { name: `Preview ${name}`, exact: true }).click();
  const close = async () => {
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(dialog).toBeHidden();
  };

  try {
    // Audio: plays the exact bytes protected (a 1 s tone), from a blob: URL revoked on close.
    await open(`tone-${tag}.wav`);
    const audio = dialog.getByTestId('preview-audio');
    await expect(audio).toBeVisible({ timeout: 30_000 });
    const audioSrc = (await audio.getAttribute('src'))!;
    expect(audioSrc).toMatch(/^blob:/);
    expect(await plays(page, audioSrc)).toBe('loaded 1.00');
    const duration = await audio.evaluate(
      (el: HTMLAudioElement) =>
        new Promise<number>((resolve, reject) =>
          el.readyState >= 1 ? resolve(el.duration) : ((el.onloadedmetadata = () => resolve(el.duration)), (el.onerror = () => reject(new Error(`media error ${el.error?.code}`))))
        )
    );
    expect(duration).toBeCloseTo(1, 2);
    // It really plays: time moves past the start.
    await audio.evaluate((el: HTMLAudioElement) => ((el.muted = true), el.play()));
    await expect.poll(() => audio.evaluate((el: HTMLAudioElement) => el.currentTime), { timeout: 10_000 }).toBeGreaterThan(0);
    await close();
    expect(await plays(page, audioSrc)).toBe('revoked');
    await expect(dialog.getByTestId('preview-audio')).toHaveCount(0);

    // Video: the recorded WebM, decoded at its size.
    await open(`clip-${tag}.webm`);
    const video = dialog.getByTestId('preview-video');
    await expect(video).toBeVisible({ timeout: 30_000 });
    const videoSrc = (await video.getAttribute('src'))!;
    expect(videoSrc).toMatch(/^blob:/);
    expect(await plays(page, videoSrc)).toMatch(/^loaded /);
    const size = await video.evaluate(
      (el: HTMLVideoElement) =>
        new Promise<string>((resolve, reject) => {
          const done = () => resolve(`${el.videoWidth}x${el.videoHeight}`);
          if (el.readyState >= 1) done();
          else {
            el.onloadedmetadata = done;
            el.onerror = () => reject(new Error(`media error ${el.error?.code}`));
          }
        })
    );
    expect(size).toBe('160x120');
    await page.screenshot({ path: join(import.meta.dirname, '..', '..', 'test-results', 'screenshots', 'preview-video-1280.png') });
    await close();
    expect(await plays(page, videoSrc)).toBe('revoked');
    await expect(dialog.getByTestId('preview-video')).toHaveCount(0);

    // The administrator lowers the limit to 1 MiB on the admin page; the setting is kept.
    await page.goto('/admin');
    await ready(page);
    const input = page.getByTestId('preview-limit-input');
    await expect(input).toHaveValue('64');
    await input.fill('1');
    await page.getByRole('button', { name: 'Save preview limit', exact: true }).click();
    await expect(page.getByTestId('preview-limit-message')).toHaveText('Files up to 1 MiB can now be previewed.');
    expect((await (await admin.get('/api/preview-limit')).json()) as unknown).toEqual({ previewLimit: MiB });
    await page.reload();
    await expect(page.getByTestId('preview-limit-input')).toHaveValue('1');

    // Bad values: refused with a code, nothing changed; a regular user cannot change it; nobody signed out reads it.
    for (const bad of [0, MiB - 1, 1024 * MiB + 1, 1.5, '2097152', null]) {
      const res = await admin.post('/api/preview-limit', { previewLimit: bad });
      expect(res.status()).toBe(400);
      expect(await errorCode(res)).toBe('WRONG_VALUE');
    }
    const user = { email: `viewer-${tag}@kofn.test`, displayName: 'Viewer', password: 'viewer password 1', mustChangePassword: false };
    expect((await admin.post('/api/users', user)).status()).toBe(201);
    const other = await browser.newContext({ baseURL: stack.url });
    try {
      const login = await other.request.post('/api/login', { data: { email: user.email, password: user.password }, headers: { Origin: stack.url } });
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const headers = { Origin: stack.url, 'X-CSRF-Token': csrfToken };
      expect((await (await other.request.get('/api/preview-limit')).json()) as unknown).toEqual({ previewLimit: MiB });
      const refused = await other.request.post('/api/preview-limit', { data: { previewLimit: 8 * MiB }, headers });
      expect(refused.status()).toBe(403);
      expect(await errorCode(refused)).toBe('FORBIDDEN');
      await other.request.post('/api/logout', { headers });
      const anonymous = await other.request.get('/api/preview-limit');
      expect(anonymous.status()).toBe(401);
    } finally {
      await other.close();
    }
    expect((await (await admin.get('/api/preview-limit')).json()) as unknown).toEqual({ previewLimit: MiB });

    // On the dashboard: the 1.1 MB recording is over the limit: no transfer, the reason and a retrieval offered;
    // the 16 KB tone still previews.
    await page.goto('/');
    await ready(page);
    await open(`long-${tag}.wav`);
    await expect(dialog.getByTestId('preview-too-big')).toContainText(`long-${tag}.wav has`);
    await expect(dialog.getByTestId('preview-too-big')).toContainText('previews show files up to 1.0 MiB (set by your administrator)');
    await expect(dialog.getByTestId('preview-audio')).toHaveCount(0);
    await dialog.getByRole('button', { name: 'Retrieve instead', exact: true }).click();
    await expect(dialog).toBeHidden();
    await expect(
      page
        .getByTestId('transfer')
        .filter({ hasText: `Retrieving long-${tag}.wav` })
        .first()
    ).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
    expect(await opfsSha256(page, `long-${tag}.wav`)).toBe(files.big.sha256);
    await open(`tone-${tag}.wav`);
    await expect(dialog.getByTestId('preview-audio')).toBeVisible({ timeout: 30_000 });
    await close();
  } finally {
    // The shared stack's other specs expect the default.
    expect((await admin.post('/api/preview-limit', { previewLimit: 64 * MiB })).status()).toBe(200);
  }
});
