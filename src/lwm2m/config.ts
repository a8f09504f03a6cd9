import { z } from 'zod';

const endpointName = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an endpoint name is 1..64 letters, digits, ".", "_", ":" or "-" (it becomes the device id)');

export const lwm2mConfigSchema = z
  .strictObject({
    endpoints: z
      .record(
        endpointName,
        z.strictObject({
          product: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).describe('Product (device class) the client belongs to; rollouts of this product cover it'),
          labels: z.record(z.string(), z.string()).default({}).describe('Labels for rollout selectors'),
        }),
      )
      .default({})
      .describe('Allow-list (NoSec on a private APN): only these endpoint names may register; others get 4.03 and are counted'),
    packageUri: z
      .string()
      .regex(/^coap:\/\/[^/]+$/, 'packageUri is coap://host[:port] with no path, e.g. coap://10.0.0.1:5683')
      .optional()
      .describe('Scheme, host and port clients download firmware from (Package URI /5/0/1); default coap://<coap.host>:<bound port>'),
    lifetime: z
      .strictObject({
        min: z.number().int().min(1).max(86_400 * 365).default(30).describe('Shortest registration lifetime accepted (seconds); shorter gets 4.00'),
        max: z.number().int().min(1).max(86_400 * 365).default(86_400 * 31).describe('Longest lifetime accepted (seconds); longer gets 4.00'),
        default: z.number().int().min(1).max(86_400 * 365).default(86_400).describe('Lifetime when Register has no lt= (Transport §6.2.1)'),
      })
      .prefault({}),
    offerIntervalSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe('How often reachable (non-queue-mode) clients are offered a due update between their own Updates; queue-mode clients are asked at each Update'),
    maxRegistrations: z.number().int().min(1).max(1_000_000).default(100_000).describe('More registered clients than this are refused with 5.03'),
    transferCapFactor: z
      .number()
      .min(1)
      .max(100)
      .default(4)
      .describe('Blocks of one LwM2M download are served unthrottled up to this many times the package size (restarts included), then refused'),
    requestTimeoutSeconds: z.number().int().min(1).max(3600).default(93).describe('How long a Read/Write/Execute to a client may take, retransmissions included (RFC 7252 MAX_TRANSMIT_WAIT = 93 s)'),
    package: z
      .enum(['image', 'anjay-demo'])
      .default('image')
      .describe("What /5/0/1 serves: 'image' = the release's full signed image; 'anjay-demo' = the image behind AVSystem's demo header (16-byte ANJAY_FW v1 + CRC32)"),
  })
  .describe('LwM2M server (Registration, Device Management, Firmware Update Object 5 pull); null = off');
export type Lwm2mConfig = z.infer<typeof lwm2mConfigSchema>;
