import { spawn } from 'node:child_process';

export type Exit = { code: number | null; stderr: string; stdout: string };

/**
 * Runs `node <script>` with only PATH and `env` in its environment and resolves once it exits,
 * with its exit code and everything it printed: for a service's start-up refusals (exit 78).
 */
export function runToExit(script: string, env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stderr, stdout }));
  });
}
