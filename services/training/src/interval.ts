import cron from 'node-cron';

/** A plain duration: whole seconds (`10`), or a number with `s`, `m` or `h` (`10s`, `5m`, `1h`). */
const DURATION = /^(\d+)\s*(s|m|h)?$/;

/** Per unit: the span it must divide, the cron expression for a step of n, and examples. */
const UNITS = {
  s: { parent: 'a minute', size: 60, cron: (n: number) => `*/${n} * * * * *`, whole: '0 * * * * *', examples: '5s, 10s, 30s' },
  m: { parent: 'an hour', size: 60, cron: (n: number) => `0 */${n} * * * *`, whole: '0 0 * * * *', examples: '1m, 5m, 30m' },
  h: { parent: 'a day', size: 24, cron: (n: number) => `0 0 */${n} * * *`, whole: '0 0 0 * * *', examples: '1h, 6h, 12h' },
} as const;

export type Schedule = { expression: string; description: string };

/**
 * TRAINING_INTERVAL as a node-cron expression, or a string saying what is wrong with it. A
 * duration must divide the next unit up evenly (seconds a minute, minutes an hour, hours a
 * day), because cron steps restart at each boundary: `*\/7` seconds fires at :49 and then at
 * :00. Anything else must be a cron expression, 5 fields or 6 with seconds first.
 */
export function parseInterval(text: string): Schedule | string {
  const trimmed = text.trim();
  const match = DURATION.exec(trimmed);
  if (match !== null) {
    const amount = Number(match[1]);
    const unitName = (match[2] ?? 's') as keyof typeof UNITS;
    const unit = UNITS[unitName];
    const description = `every ${amount}${unitName}`;
    if (amount === unit.size) return { expression: unit.whole, description };
    if (amount >= 1 && amount < unit.size && unit.size % amount === 0) return { expression: unit.cron(amount), description };
    return `"${trimmed}" must divide ${unit.parent} evenly (e.g. ${unit.examples}), or be a cron expression`;
  }
  const fields = trimmed.split(/\s+/).length;
  if ((fields === 5 || fields === 6) && cron.validate(trimmed)) return { expression: trimmed, description: `cron "${trimmed}"` };
  return `"${trimmed}" is neither a duration (10s, 5m, 1h) nor a valid cron expression`;
}
