import { FurrowError } from '../../../errors.ts';

/**
 * ChirpStack v4 multicast groups are managed through its API (MulticastGroupService), not MQTT. This
 * client speaks the REST form of that API (chirpstack-rest-api, grpc-gateway JSON): the same message
 * names, camelCase fields, bytes as base64, `Authorization: Bearer <API key>`.
 */
export interface MulticastGroupSpec {
  name: string;
  applicationId: string;
  /** DevAddr of the group, 8 hex digits. */
  mcAddr: string;
  mcNwkSKey: string;
  mcAppSKey: string;
  dr: number;
  frequency: number;
}

export class ChirpStackApiError extends FurrowError {}

export class MulticastApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | null,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ChirpStackApiError('lora.api_unreachable', `ChirpStack API ${method} ${url} failed: ${(err as Error).message}`, { hint: 'check lora.chirpstack.apiUrl and that chirpstack-rest-api runs', cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      throw new ChirpStackApiError('lora.api_error', `ChirpStack API ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`, {
        hint: res.status === 401 || res.status === 403 ? 'check lora.chirpstack.apiToken' : 'see the ChirpStack log',
      });
    }
    return text ? (JSON.parse(text) as unknown) : {};
  }

  async createGroup(g: MulticastGroupSpec): Promise<string> {
    const r = (await this.call('POST', '/api/multicast-groups', {
      multicastGroup: { ...g, region: 'EU868', groupType: 'CLASS_C', fCnt: 0, classCSchedulingType: 'DELAY' },
    })) as { id?: unknown };
    if (typeof r.id !== 'string') throw new ChirpStackApiError('lora.api_error', 'ChirpStack API created a multicast group but returned no id');
    return r.id;
  }

  async addDevice(groupId: string, devEui: string): Promise<void> {
    await this.call('POST', `/api/multicast-groups/${groupId}/devices`, { multicastGroupId: groupId, devEui });
  }

  /** Returns the multicast frame counter ChirpStack assigned. */
  async enqueue(groupId: string, fPort: number, data: Buffer): Promise<number> {
    const r = (await this.call('POST', `/api/multicast-groups/${groupId}/queue`, {
      queueItem: { multicastGroupId: groupId, fPort, data: data.toString('base64') },
    })) as { fCnt?: unknown };
    return typeof r.fCnt === 'number' ? r.fCnt : 0;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.call('DELETE', `/api/multicast-groups/${groupId}`);
  }
}
