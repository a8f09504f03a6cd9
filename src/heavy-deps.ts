/**
 * Dependencies that cost a gateway memory it may never need: importing mqtt.js or serialport (with its
 * native binding) adds about 15 MB of RSS each (measured with `npm run bench:startup`), and a gateway
 * without MQTT or a modem uses neither. They are imported on first use, once.
 */
import type { SerialPort } from 'serialport';

export type MqttLib = (typeof import('mqtt'))['default'];

let mqtt: Promise<MqttLib> | undefined;
let serialPort: Promise<typeof SerialPort> | undefined;

export function loadMqtt(): Promise<MqttLib> {
  mqtt ??= import('mqtt').then((m) => m.default);
  return mqtt;
}

export function loadSerialPort(): Promise<typeof SerialPort> {
  serialPort ??= import('serialport').then((m) => m.SerialPort);
  return serialPort;
}
