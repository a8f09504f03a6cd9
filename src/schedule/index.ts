export { Scheduler, type TransferRequest, type TransferAnswer, type BearerStats } from './scheduler.ts';
export { ScheduleService } from './service.ts';
export { scheduleConfigSchema, type ScheduleConfig, type BearerModelConfig } from './config.ts';
export { loraTimeOnAirMs, maxPayloadWithinMs, type LoraRadio } from './lora-airtime.ts';
export { estimateTransfer, blockSizeFor, loraLimits, type TransferEstimate } from './bearer-model.ts';
export { ceLevel } from './cellular.ts';
export { parseBytes, parseDuration, formatDuration } from './units.ts';
