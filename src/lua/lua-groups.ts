// mona.groups for scripts (MonaServer v1): the NetGroups of the app's model application, each as
// a snapshot taken when the script asks: its ID (hex of the 32-byte group ID, as onJoinGroup
// gives it), its size, and its members (peer ID, client id).
import type { FlashServer } from '../flash/flash-server.js';
import type { GroupMembership } from '../flash/group-registry.js';
import type { NetGroup } from '../flash/net-group.js';
import type { LuaApp } from './lua-apps.js';

export interface GroupInfo {
  id: string;
  size: number;
  members: Array<{ peerId: string; clientId: string }>;
}

/** Members listed at most (a listing is a copy into the script's state). */
const MAX_LISTED_MEMBERS = 1000;

export class LuaGroups {
  private flash: FlashServer | undefined;

  attach(flash: FlashServer): void {
    this.flash = flash;
  }

  list(app: LuaApp): GroupInfo[] {
    if (this.flash === undefined) return [];
    return [...this.flash.groups.groupsOf(app.path.split('/')[0]!)].map(info);
  }

  find(app: LuaApp, id: string): GroupInfo | undefined {
    const group = this.flash?.groups.group(app.path.split('/')[0]!, id.toLowerCase());
    return group && info(group);
  }
}

function info(group: NetGroup<GroupMembership>): GroupInfo {
  return {
    id: group.id,
    size: group.size,
    members: group.members.slice(0, MAX_LISTED_MEMBERS).map((m) => ({ peerId: m.peerId.toString('hex'), clientId: m.client.id })),
  };
}
