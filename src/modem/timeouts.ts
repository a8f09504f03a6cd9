/**
 * Maximum response times per command, from the manuals. Where a manual gives 300 ms we allow 1 s: the
 * figure is the modem's processing time, and a USB-serial hop plus a modem busy with radio work adds
 * tens to hundreds of ms (seen on a Pi 3 with a BG96 on USB).
 */
export const TIMEOUT_MS = {
  /** ATI, AT+CGMR, ATE0, AT+CMEE, AT+CSQ, AT+CESQ, AT+CEREG: "300 ms" (BG96 AT Commands Manual §2, §6; BC66 AT Commands Manual §2, §4). */
  basic: 1_000,
  /** AT+CPIN?: "5 s" (BG96 AT Commands Manual §5.3; BC66 AT Commands Manual §3.x AT+CPIN). */
  cpin: 5_000,
  /** AT+QCFG="iotopmode"/"nwscanseq": "300 ms" (BG96 AT Commands Manual §4.3). */
  qcfg: 1_000,
  /** AT+QICSGP: "300 ms" (BG96 TCP/IP Application Note §2.2.1). */
  qicsgp: 1_000,
  /** AT+QIACT: "150 s, determined by the network" (BG96 TCP/IP Application Note §2.2.2). */
  qiact: 150_000,
  /** AT+QIDEACT: "40 s" (BG96 TCP/IP Application Note §2.2.3). */
  qideact: 40_000,
  /** AT+QIOPEN OK: "300 ms"; the +QIOPEN URC "150 s" (BG96 TCP/IP Application Note §2.2.4; BC66 TCP/IP Application Note §2.2.2). */
  qiopen: 1_000,
  qiopenUrc: 150_000,
  /** AT+QICLOSE: "10 s" (BG96 TCP/IP Application Note §2.2.5). */
  qiclose: 10_000,
  /** AT+QISEND: "120 s, determined by the network" (BG96 TCP/IP Application Note §2.2.7). BC66 gives 300 ms for OK and leaves SEND OK to the network; we use the same bound. */
  qisend: 120_000,
  /** AT+QIRD: "120 s" (BG96 TCP/IP Application Note §2.2.8). */
  qird: 120_000,
  /** AT+QICFG: "300 ms" (BG96 TCP/IP Application Note §2.2.15; BC66 TCP/IP Application Note §2.2.x). */
  qicfg: 1_000,
  /** AT+QENG: "300 ms" (BC66 AT Commands Manual §5.x AT+QENG; BG96 AT Commands Manual §6.x AT+QENG). */
  qeng: 1_000,
  /** AT+CPSMS, AT+CEDRXS, AT+QSCLK: "300 ms" (BC66 AT Commands Manual §4.x, §6.x). */
  power: 1_000,
  /** AT+CGPADDR: "300 ms" (BC66 AT Commands Manual §4.x). */
  cgpaddr: 1_000,
  /** Unknown commands typed by an operator (`furrow modem at`): generous, the network may be involved. */
  manual: 30_000,
} as const;
