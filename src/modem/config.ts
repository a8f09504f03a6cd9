import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, { message: 'an IPv4 address and port, e.g. "10.20.0.7:5683"', abort: true })
  .refine((s) => {
    const [ip, port] = s.split(':');
    return ip!.split('.').every((o) => Number(o) <= 255) && Number(port) >= 1 && Number(port) <= 65535;
  }, 'IPv4 octets 0..255 and a port 1..65535');

/**
 * A gateway must stay reachable, so the defaults switch power saving off (PSM, eDRX, sleep): a modem in
 * PSM cannot receive a device's check-in. Enable them only for a battery-powered gateway.
 */
export const modemConfigSchema = z
  .strictObject({
    port: z.string().min(1).describe('Serial device, e.g. /dev/ttyUSB2 (BG96 AT port) or /dev/ttyAMA0 (BC66 on UART)'),
    baudRate: z.number().int().positive().default(115200),
    model: z
      .enum(['auto', 'bc66', 'bg96'])
      .default('auto')
      .describe('Expected modem; "auto" detects it with ATI. A mismatch with what the modem reports is an error'),
    apn: z.string().default('').describe('APN for the PDP context (BG96 AT+QICSGP); empty keeps the modem/network default'),
    contextId: z.number().int().min(1).max(16).default(1).describe('PDP context id (BG96 1..16; BC66 uses 1)'),
    connectId: z.number().int().min(0).max(11).default(0).describe('Socket id of the gateway service socket (BC66 per-peer sockets count up from it)'),
    localPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(5683)
      .describe('UDP port the modem listens on (BC66: of the first peer socket; later ones use the next ports); 0 lets the modem choose'),
    accessMode: z
      .enum(['push', 'buffer'])
      .default('push')
      .describe('push: data arrives in +QIURC "recv"; buffer: furrow reads it with AT+QIRD (survives a lost URC via polling)'),
    // Prompt by default: fixed-length data mode carries any byte, and some BC66/BC660K firmware limits
    // the AT line well below the 1 KiB a 512-byte hex string needs (Quectel forum reports ~100 chars).
    sendFormat: z
      .enum(['hex', 'prompt'])
      .default('prompt')
      .describe('BC66: data after the ">" prompt (fixed length, any byte), or AT+QISEND with a hex string. BG96 "UDP SERVICE" always uses the prompt'),
    peers: z
      .array(hostPort)
      .default([])
      .describe('BC66 only (it has no "UDP SERVICE" socket): remote addresses to open UDP sockets to at bring-up'),
    bc66: z
      .strictObject({
        psm: z
          .strictObject({
            tau: z.string().regex(/^[01]{8}$/, '8 bits, GPRS timer 3 coding (3GPP TS 24.008 §10.5.7.4a)'),
            activeTime: z.string().regex(/^[01]{8}$/, '8 bits, GPRS timer 2 coding (3GPP TS 24.008 §10.5.7.3)'),
          })
          .nullable()
          .default(null)
          .describe('AT+CPSMS timers; null sends AT+CPSMS=0 (PSM off)'),
        edrx: z
          .string()
          .regex(/^[01]{4}$/, '4 bits, eDRX cycle (3GPP TS 24.008 §10.5.5.32)')
          .nullable()
          .default(null)
          .describe('AT+CEDRXS value for NB-IoT; null sends AT+CEDRXS=0 (eDRX off)'),
        sleep: z.boolean().default(false).describe('AT+QSCLK=1 lets the BC66 sleep between transfers'),
      })
      .prefault({}),
    bg96: z
      .strictObject({
        iotopmode: z.enum(['catm', 'nbiot', 'both']).default('both').describe('AT+QCFG="iotopmode": 0 CAT-M, 1 NB-IoT, 2 both'),
        nwscanseq: z
          .string()
          .regex(/^(0[1-3]){1,3}$/, 'a sequence of 01 (GSM), 02 (CAT-M), 03 (NB-IoT), e.g. "0203"')
          .default('0203')
          .describe('AT+QCFG="nwscanseq": search order of radio access technologies'),
      })
      .prefault({}),
    healthIntervalSeconds: z.number().int().min(1).max(3600).default(60).describe('How often CSQ, CESQ, CEREG and the serving cell are polled'),
    registrationTimeoutSeconds: z.number().int().min(1).max(3600).default(180).describe('How long bring-up waits for CEREG registration before it retries'),
    reconnect: z
      .strictObject({
        minMs: z.number().int().min(10).default(500),
        maxMs: z.number().int().min(100).default(30_000),
      })
      .prefault({})
      .describe('Backoff for reopening a vanished serial port and retrying a failed bring-up'),
  })
  .describe('Quectel BC66/BG96 modem; omit to run without one');
export type ModemConfig = z.infer<typeof modemConfigSchema>;
