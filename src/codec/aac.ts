// AAC decoder configuration: the AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1) that an AAC
// sequence header carries after its 2-byte tag header.
import { MediaFormatError } from './media-format-error.js';

export interface AacAudioSpecificConfig {
  /** Core object type: 2 = AAC-LC, 1 = Main, ... (for explicit HE-AAC signalling, the inner type). */
  audioObjectType: number;
  /** Sampling rate of the core decoder in Hz. */
  sampleRate: number;
  /** channelConfiguration: 1-6 as is, 7 = 7.1 (8 channels), 0 = defined in-band. */
  channelConfiguration: number;
  /** Channel count implied by channelConfiguration (0 when defined in-band). */
  channels: number;
  /** Output rate of SBR (HE-AAC) when explicitly signalled, else undefined. */
  extensionSampleRate: number | undefined;
}

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350] as const;
const SBR_OBJECT_TYPE = 5;
const PS_OBJECT_TYPE = 29;

/** Parses an AudioSpecificConfig (e.g. `tag.data.subarray(parseAudioTag(tag.data).payloadOffset)`). */
export function parseAacAudioSpecificConfig(config: Uint8Array): AacAudioSpecificConfig {
  let bitOffset = 0;
  const read = (bitCount: number, what: string): number => {
    if (bitOffset + bitCount > config.length * 8) {
      throw new MediaFormatError(`AAC AudioSpecificConfig of ${config.length} bytes is cut inside its ${what}`);
    }
    let value = 0;
    for (let index = 0; index < bitCount; index++, bitOffset++) {
      value = value * 2 + ((config[bitOffset >> 3]! >> (7 - (bitOffset & 7))) & 1);
    }
    return value;
  };
  const readObjectType = (): number => {
    const type = read(5, 'audio object type');
    return type === 31 ? 32 + read(6, 'audio object type') : type;
  };
  const readSampleRate = (): number => {
    const index = read(4, 'sampling frequency index');
    if (index === 15) return read(24, 'sampling frequency');
    const rate = SAMPLE_RATES[index];
    if (rate === undefined) throw new MediaFormatError(`reserved AAC sampling frequency index ${index}`);
    return rate;
  };

  let audioObjectType = readObjectType();
  const sampleRate = readSampleRate();
  const channelConfiguration = read(4, 'channel configuration');
  let extensionSampleRate: number | undefined;
  if (audioObjectType === SBR_OBJECT_TYPE || audioObjectType === PS_OBJECT_TYPE) {
    extensionSampleRate = readSampleRate();
    audioObjectType = readObjectType();
  }
  return {
    audioObjectType,
    sampleRate,
    channelConfiguration,
    channels: channelConfiguration === 7 ? 8 : channelConfiguration,
    extensionSampleRate,
  };
}

/** The RFC 6381 codecs string, e.g. "mp4a.40.2". */
export function aacCodecString(config: AacAudioSpecificConfig): string {
  return `mp4a.40.${config.audioObjectType}`;
}
