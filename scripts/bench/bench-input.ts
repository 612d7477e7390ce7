// The media the fan-out benchmarks publish: FFmpeg's test pattern and a sine, encoded once into
// an FLV in the temp folder and reused by later runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 20 s of H.264 (a keyframe every 2 s) + AAC at the given size and bitrates (kb/s). */
export function benchInput(name: string, size: string, videoKbps: number, audioKbps: number): string {
  const file = join(tmpdir(), `covey-bench-${name}.flv`);
  if (existsSync(file)) return file;
  console.error(`encoding the benchmark input (20 s of ${size} H.264 ${videoKbps} kb/s + AAC ${audioKbps} kb/s)...`);
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${2 * videoKbps}k`, '-g', '50',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', `${audioKbps}k`, '-f', 'flv', file,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not encode the benchmark input');
  return file;
}
