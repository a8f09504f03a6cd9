/**
 * The part of the OMA object model furrow reads and writes (OMA-TS-LightweightM2M-Core Appendix D/E):
 * Server (1), Device (3), Firmware Update (5). TLV and plain text carry no types, so a value of a
 * resource listed here is decoded as its type; any other resource comes back as opaque bytes.
 */
export type ResourceType = 'string' | 'integer' | 'float' | 'boolean' | 'opaque' | 'time' | 'objlnk' | 'none';

export interface ResourceDef {
  name: string;
  type: ResourceType;
  multiple?: true;
}

export const OBJECTS: Record<number, { name: string; resources: Record<number, ResourceDef> }> = {
  1: {
    name: 'LwM2M Server',
    resources: {
      0: { name: 'Short Server ID', type: 'integer' },
      1: { name: 'Lifetime', type: 'integer' },
      2: { name: 'Default Minimum Period', type: 'integer' },
      3: { name: 'Default Maximum Period', type: 'integer' },
      6: { name: 'Notification Storing', type: 'boolean' },
      7: { name: 'Binding', type: 'string' },
      8: { name: 'Registration Update Trigger', type: 'none' },
    },
  },
  3: {
    name: 'Device',
    resources: {
      0: { name: 'Manufacturer', type: 'string' },
      1: { name: 'Model Number', type: 'string' },
      2: { name: 'Serial Number', type: 'string' },
      3: { name: 'Firmware Version', type: 'string' },
      4: { name: 'Reboot', type: 'none' },
      5: { name: 'Factory Reset', type: 'none' },
      6: { name: 'Available Power Sources', type: 'integer', multiple: true },
      7: { name: 'Power Source Voltage', type: 'integer', multiple: true },
      8: { name: 'Power Source Current', type: 'integer', multiple: true },
      9: { name: 'Battery Level', type: 'integer' },
      10: { name: 'Memory Free', type: 'integer' },
      11: { name: 'Error Code', type: 'integer', multiple: true },
      12: { name: 'Reset Error Code', type: 'none' },
      13: { name: 'Current Time', type: 'time' },
      14: { name: 'UTC Offset', type: 'string' },
      15: { name: 'Timezone', type: 'string' },
      16: { name: 'Supported Binding and Modes', type: 'string' },
      17: { name: 'Device Type', type: 'string' },
      18: { name: 'Hardware Version', type: 'string' },
      19: { name: 'Software Version', type: 'string' },
      20: { name: 'Battery Status', type: 'integer' },
      21: { name: 'Memory Total', type: 'integer' },
    },
  },
  5: {
    name: 'Firmware Update',
    resources: {
      0: { name: 'Package', type: 'opaque' },
      1: { name: 'Package URI', type: 'string' },
      2: { name: 'Update', type: 'none' },
      3: { name: 'State', type: 'integer' },
      5: { name: 'Update Result', type: 'integer' },
      6: { name: 'PkgName', type: 'string' },
      7: { name: 'PkgVersion', type: 'string' },
      8: { name: 'Firmware Update Protocol Support', type: 'integer', multiple: true },
      9: { name: 'Firmware Update Delivery Method', type: 'integer' },
    },
  },
};

export function resourceType(objectId: number, resourceId: number): ResourceType {
  return OBJECTS[objectId]?.resources[resourceId]?.type ?? 'opaque';
}

/** `/3/0/3` → [3, 0, 3]; throws on anything that is not 1..4 numeric segments in range. */
export function parsePath(path: string): number[] {
  const m = /^\/(\d{1,5})(?:\/(\d{1,5}))?(?:\/(\d{1,5}))?(?:\/(\d{1,5}))?$/.exec(path);
  if (!m) throw new RangeError(`LwM2M path ${JSON.stringify(path)} must look like /3, /3/0, /3/0/1 or /3/0/6/0`);
  const ids = m.slice(1).filter((x) => x !== undefined).map(Number);
  // Core §7.1: IDs are 16-bit; 65535 is reserved.
  for (const id of ids) if (id > 65534) throw new RangeError(`LwM2M path ${path}: identifier ${id} is above 65534`);
  return ids;
}
