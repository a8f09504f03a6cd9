/** "1 device", "2 devices": counts that operators read in CLI output, logs and status lines. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
