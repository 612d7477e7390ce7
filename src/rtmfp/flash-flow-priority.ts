// Scheduling priorities of the flows that carry Flash communication over RTMFP (RFC 7425), the
// same at both ends (server sessions and our client), so they live here, below both: audio and
// video are time critical (their packets are marked so, RFC 7016 §3.5.2.2), audio above video as
// Flash Player orders them; commands and data sit below, above bulk.
import { TIME_CRITICAL_PRIORITY } from './session.js';

export const FlashFlowPriority = {
  command: 3,
  video: TIME_CRITICAL_PRIORITY + 1,
  audio: TIME_CRITICAL_PRIORITY + 2,
} as const;
