// NetStatus events (onStatus info objects) as every Flash client reads them: level, code,
// description, plus optional extra fields. Shared by both transports.

export type StatusLevel = 'status' | 'warning' | 'error';

export interface StatusInfo {
  level: StatusLevel;
  code: string;
  description: string;
  [extra: string]: unknown;
}

export function statusInfo(level: StatusLevel, code: string, description: string, extra: Record<string, unknown> = {}): StatusInfo {
  return { level, code, description, ...extra };
}
