import { checkLog, ENTRY_HEADER_SIZE, ErrorCodes, firstNonZero, LogFormatError, LwlogError, type LogEntry, type LogFile } from "@lwlog/codec/core";

/** Error codes of a repair (`convert --fix-superblock`) that cannot give a valid log. */
export const RepairErrorCodes = {
  /** The log written would not pass `lwlog check`: nothing was written. */
  REPAIR_INVALID: "LWLOG_REPAIR_INVALID",
} as const;

/**
 * A change a conversion made to bytes of the input beyond its units and count: a non-zero
 * byte where writers put zeros (a header block's padding, after a mark's name, after the
 * superblock's fields), which the output has as zeros.
 */
export interface Repair {
  /** The input entry (absent for the superblock). */
  entry?: number;
  /** Byte offset in the input of the header block (or superblock) changed. */
  offset: number;
  /** The problem's code, as `lwlog check` reports it. */
  code: string;
  /** What was changed, in words. */
  message: string;
}

/** At most this many repairs are listed (each is counted). */
export const MAX_LISTED_REPAIRS = 1000;

/**
 * The repairs of one conversion, in input order (the first `MAX_LISTED_REPAIRS`, the rest
 * counted), and the refusal of what a conversion cannot repair. A broken declared entry
 * reaches it only when reading leniently (`--fix-superblock`): its non-zero padding is a
 * repair (the output's header blocks are written afresh); a `data_len` or mark length that
 * does not fit its entry is not, as no byte says what it should be.
 */
export class RepairList {
  readonly listed: Repair[] = [];
  count = 0;

  /** Notes the superblock's non-zero bytes after its fields (`at`: the first one's offset, or −1). */
  superblock(at: number): void {
    if (at >= 0) this.add({ offset: 0, code: ErrorCodes.SUPER_PADDING, message: `non-zero bytes after the superblock's fields (the first at byte ${at}) zeroed` });
  }

  /** Notes what converting `e` changes of its header block; throws for what it cannot repair. */
  entry(e: LogEntry, log: LogFile): void {
    for (const p of e.problems) {
      if (p.code === ErrorCodes.MALFORMED_ENTRY) {
        const block = new Uint8Array(log.sectorSize);
        log.readAt(block, e.offset);
        const from = ENTRY_HEADER_SIZE + (e.kind === "mark" ? (e.markBytes?.length ?? 0) : 0);
        const what = e.kind === "mark" ? "after the mark name" : "in the header block's padding";
        this.add({ entry: e.index, offset: e.offset, code: p.code, message: `non-zero bytes ${what} zeroed (the first at header byte ${firstNonZero(block, from, block.length)})` });
      } else if (p.severity === "error") {
        throw new LogFormatError(p.code, `${p.message}: a conversion cannot repair it (--fix-superblock repairs the superblock's entry count, not a broken entry); nothing was written`, {
          file: log.path,
          entry: e.index,
          offset: e.offset,
        });
      }
    }
  }

  private add(r: Repair): void {
    this.count += 1;
    if (this.listed.length < MAX_LISTED_REPAIRS) this.listed.push(r);
  }
}

/**
 * Checks a repaired log (written at `temp`, to become `output`) with `lwlog check`'s own
 * validation; throws `LWLOG_REPAIR_INVALID` naming the first error when it would not pass.
 */
export async function verifyRepaired(temp: string, output: string): Promise<void> {
  const report = await checkLog(temp, 1);
  if (report.valid) return;
  const p = report.problems[0]!;
  const where = [p.entry !== undefined ? `entry ${p.entry}` : "", p.offset !== undefined ? `offset ${p.offset}` : ""].filter(Boolean).join(", ");
  throw new LwlogError(
    RepairErrorCodes.REPAIR_INVALID,
    `the repaired log would not be valid (${where ? `${where}: ` : ""}${p.message} [${p.code}]); nothing was written`,
    { file: output },
  );
}
