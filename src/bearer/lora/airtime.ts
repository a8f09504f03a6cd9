import { loraTimeOnAirMs } from '../../schedule/index.ts';
import { dataRate } from './regional.ts';

/**
 * Time on air per EU868 data rate. LoRa modulation goes through the scheduler's model
 * (`src/schedule/lora-airtime.ts`, Semtech AN1200.13) so airtime is counted one way across furrow;
 * this file only maps a data rate to its radio settings and adds FSK (DR7), which that model lacks.
 */

/** MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + FPort 1 + MIC 4: PHYPayload bytes around FRMPayload. */
export const LORAWAN_FRAME_OVERHEAD = 13;

export interface AirtimeOptions {
  /** Uplinks carry a payload CRC, downlinks do not (LoRaWAN 1.0.x §4). */
  direction: 'up' | 'down';
  /** FOpts bytes piggybacked on the frame (MAC commands); 0 for application data. */
  fOptsLength?: number;
}

/** Milliseconds on air for a frame carrying `frmPayloadLength` application bytes at EU868 `dr`. */
export function timeOnAirMs(frmPayloadLength: number, dr: number, opts: AirtimeOptions): number {
  const pl = frmPayloadLength + LORAWAN_FRAME_OVERHEAD + (opts.fOptsLength ?? 0);
  const mod = dataRate(dr).modulation;
  if (mod.kind === 'fsk') {
    // GFSK: 5 preamble bytes, 3 sync word bytes, 1 length byte, payload, 2 CRC bytes.
    return ((5 + 3 + 1 + pl + 2) * 8 * 1000) / mod.bitRate;
  }
  return loraTimeOnAirMs(
    { sf: mod.sf, bwKhz: mod.bandwidthHz / 1000, cr: 1, preamble: 8, explicitHeader: true, crc: opts.direction === 'up', lowDataRateOptimize: 'auto' },
    pl,
  );
}
