// A node:test reporter that ends the run with one line per skipped and per failed test, with the
// reason: CI shows only the tail of a long log, and the spec reporter's totals alone ("skipped 12")
// do not say which tests skipped or why.
export default async function* testSummary(source) {
  const skipped = [];
  const failed = [];
  for await (const event of source) {
    if (event.type === 'test:pass' && event.data.skip !== undefined) skipped.push(event.data);
    // A suite whose subtest failed is reported too; the subtest's own line says why.
    if (event.type === 'test:fail' && event.data.details?.error?.failureType !== 'subtestsFailed') failed.push(event.data);
  }
  const where = (d) => (d.file ? ` (${d.file.replace(`${process.cwd()}/`, '')})` : '');
  const why = (d) => String(d.details?.error?.cause?.message ?? d.details?.error?.message ?? '').split('\n')[0];
  yield `\n# summary: ${skipped.length} skipped, ${failed.length} failed\n`;
  for (const d of skipped) yield `# skipped: ${d.name}${where(d)}: ${d.skip === true ? 'no reason given' : d.skip}\n`;
  for (const d of failed) yield `# FAILED: ${d.name}${where(d)}: ${why(d)}\n`;
}
