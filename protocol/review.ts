import { z } from 'zod';
import type { AiRunEndedDto } from './ai.ts';

/**
 * Annotations and live review sessions: REST shapes and the socket.io events, typed once here and
 * validated at run time on the server (every inbound message goes through these schemas).
 *
 * Consistency rule: the server orders every change. Each accepted operation gets the next number of
 * one global sequence (`seq`) and is stored before it is acknowledged or broadcast; every client
 * applies the operations in `seq` order, so all end with the server's state. Concurrent edits of one
 * annotation: the later one in server order wins, field by field. An operation carrying `ifVersion`
 * (undo and redo do) is refused with CONFLICT when someone else changed the annotation since, so an
 * undo never reverts another participant's edit. Every operation has a client-made `opId`: a resend
 * after a dropped connection is recognised and answered with the first result, never applied twice.
 */

export const REVIEW_PROTOCOL_VERSION = 3;

export const ANNOTATION_KINDS = [
  'point',
  'multipoint',
  'line',
  'polyline',
  'rectangle',
  'ellipse',
  'polygon',
  'multipolygon',
  'freehand',
] as const;
export type AnnotationKind = (typeof ANNOTATION_KINDS)[number];

/** QuPath's object types: an annotation (drawn by a person), a detection, a cell (with its nucleus). */
export const OBJECT_TYPES = ['annotation', 'detection', 'cell'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

/** Default classes and their colours (protocol/palette.ts, zod-free for the client). */
export { ANNOTATION_CLASSES } from './palette.ts';

/** Points in one geometry, all rings and parts together. */
export const MAX_POINTS = 20_000;
const Coord = z.number().finite().min(-1e7).max(1e7);
export const PointSchema = z.tuple([Coord, Coord]);
const Ring = z.array(PointSchema).min(1).max(MAX_POINTS);
const PolygonPart = z.object({ points: Ring, holes: z.array(Ring).max(MAX_POINTS).optional() });

/**
 * Level-0 image pixels. point, line, polyline, multipoint: `points`. Rectangle and ellipse: two corners
 * of the bounding box. polygon and freehand: the outer ring `points` and any `holes`. multipolygon:
 * `parts`, each an outer ring and its holes (`points` repeats the first part's outer ring).
 */
export const GeometrySchema = z
  .object({
    points: Ring,
    holes: z.array(Ring).max(MAX_POINTS).optional(),
    parts: z.array(PolygonPart).max(MAX_POINTS).optional(),
  })
  .refine((g) => pointCount(g) <= MAX_POINTS, { message: `a geometry holds at most ${MAX_POINTS} points` });
export type Geometry = z.infer<typeof GeometrySchema>;

/** Every point of a geometry: outer ring, holes and parts. */
export function pointCount(g: {
  points: unknown[];
  holes?: unknown[][];
  parts?: { points: unknown[]; holes?: unknown[][] }[];
}): number {
  const rings = (p: { points: unknown[]; holes?: unknown[][] }): number =>
    p.points.length + (p.holes ?? []).reduce((n, h) => n + h.length, 0);
  return rings(g) + (g.parts ?? []).reduce((n, p) => n + rings(p), 0);
}

export const AnnotationClassSchema = z.object({
  name: z.string().min(1).max(64),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/),
});
export type AnnotationClass = z.infer<typeof AnnotationClassSchema>;

export interface CommentDto {
  id: string;
  authorId: string;
  authorName: string;
  text: string;
  at: string;
}

export interface AnnotationDto {
  id: string;
  slideId: string;
  kind: AnnotationKind;
  geometry: Geometry;
  /** null: unclassified (QuPath's "no class"). */
  classification: AnnotationClass | null;
  label: string;
  /** Its own colour (QuPath's `properties.color`), shown instead of the class colour; null: the class's. */
  color?: string | null;
  /** Locked: its geometry cannot be changed nor the annotation deleted until unlocked (as in QuPath). */
  locked?: boolean;
  /** 'annotation' when absent. */
  objectType?: ObjectType;
  /** A cell's nucleus outline (QuPath's `nucleusGeometry`). */
  nucleus?: Geometry | null;
  /** Measurements carried with the object (QuPath's `measurements`), name to value. */
  measurements?: Record<string, number>;
  authorId: string;
  authorName: string;
  createdAt: string;
  updatedAt: string;
  /** 1 on creation, +1 for every accepted change. */
  version: number;
  comments: CommentDto[];
}

const Uuid = z.uuid();
const Label = z.string().max(500);

const Colour = z.string().regex(/^#[0-9a-fA-F]{6}$/);
const Measurements = z
  .record(z.string().min(1).max(200), z.number().finite())
  .refine((m) => Object.keys(m).length <= 500, { message: 'at most 500 measurements' });

export const AnnotationPatchSchema = z
  .object({
    geometry: GeometrySchema,
    classification: AnnotationClassSchema.nullable(),
    label: Label,
    color: Colour.nullable(),
    locked: z.boolean(),
  })
  .partial();
export type AnnotationPatch = z.infer<typeof AnnotationPatchSchema>;

export const OperationSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('create'),
    opId: Uuid,
    annotation: z.object({
      id: Uuid,
      kind: z.enum(ANNOTATION_KINDS),
      geometry: GeometrySchema,
      classification: AnnotationClassSchema.nullable(),
      label: Label.default(''),
      color: Colour.nullable().optional(),
      locked: z.boolean().optional(),
      objectType: z.enum(OBJECT_TYPES).optional(),
      nucleus: GeometrySchema.nullable().optional(),
      measurements: Measurements.optional(),
    }),
  }),
  z.object({
    type: z.literal('update'),
    opId: Uuid,
    id: Uuid,
    patch: AnnotationPatchSchema,
    ifVersion: z.number().int().positive().optional(),
  }),
  z.object({
    type: z.literal('delete'),
    opId: Uuid,
    id: Uuid,
    ifVersion: z.number().int().positive().optional(),
  }),
  /** Undo of a delete: the annotation comes back as it was. */
  z.object({
    type: z.literal('restore'),
    opId: Uuid,
    id: Uuid,
    ifVersion: z.number().int().positive().optional(),
  }),
  z.object({ type: z.literal('comment'), opId: Uuid, id: Uuid, text: z.string().min(1).max(4000) }),
]);
export type Operation = z.infer<typeof OperationSchema>;

/** An accepted operation as every client receives it: the annotation after it (null: deleted). */
export interface AppliedOp {
  seq: number;
  opId: string;
  slideId: string;
  type: Operation['type'];
  annotationId: string;
  userId: string;
  /** The annotation's version after this operation (deletes count too). */
  version: number;
  annotation: AnnotationDto | null;
  at: string;
}

export type OpResult =
  | { ok: true; seq: number; version: number; annotation: AnnotationDto | null }
  | { ok: false; code: string; message: string };

// ---- Review sessions ----

export interface ReviewSessionDto {
  id: string;
  slideId: string;
  title: string;
  hostId: string;
  hostName: string;
  status: 'open' | 'closed';
  invited: { userId: string; name: string; siteName: string }[];
  createdAt: string;
  closedAt: string | null;
}

export const CreateSessionRequestSchema = z.object({
  slideId: z.string().regex(/^[0-9a-f]{32}$/),
  title: z.string().min(1).max(200),
});
export type CreateSessionRequest = z.infer<typeof CreateSessionRequestSchema>;

/**
 * Invite a user. Someone without access to the slide gets a share at the same time (the host must be
 * allowed to share it): de-identified unless `identified` is set, under `studyCode`.
 */
export const InviteRequestSchema = z.object({
  userId: Uuid,
  identified: z.boolean().default(false),
  studyCode: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/)
    .optional(),
  days: z.number().int().min(1).max(366).default(30),
});
export type InviteRequest = z.infer<typeof InviteRequestSchema>;

export interface Participant {
  userId: string;
  name: string;
  siteName: string;
  role: string;
  host: boolean;
  color: string;
  online: boolean;
}

export interface ViewDto {
  x: number;
  y: number;
  /** Screen pixels per image pixel. */
  imageZoom: number;
  rotation: number;
  /** Image-pixel outline of what the user sees (for the navigator). */
  bounds: { x: number; y: number; width: number; height: number };
}

export const ViewSchema = z.object({
  x: Coord,
  y: Coord,
  imageZoom: z.number().positive().max(1e3),
  rotation: z.number().min(-360).max(360),
  bounds: z.object({
    x: Coord,
    y: Coord,
    width: z.number().nonnegative().max(1e8),
    height: z.number().nonnegative().max(1e8),
  }),
});

export interface ChatMessageDto {
  id: string;
  userId: string;
  userName: string;
  text: string;
  at: string;
}

export const CONFIDENCES = ['low', 'moderate', 'high'] as const;

export const OpinionRequestSchema = z.object({
  diagnosis: z.string().min(1).max(500),
  confidence: z.enum(CONFIDENCES),
  text: z.string().max(20_000).default(''),
});
export type OpinionRequest = z.infer<typeof OpinionRequestSchema>;

export interface OpinionDto {
  id: string;
  sessionId: string;
  slideId: string;
  userId: string;
  userName: string;
  diagnosis: string;
  confidence: (typeof CONFIDENCES)[number];
  text: string;
  at: string;
}

/**
 * A join's annotations travel after its answer, as `snapshot` events (parts of at most
 * SNAPSHOT_PART_BYTES, in order, tagged with the transfer number): concatenated, they are an
 * `AnnotationDto[]` (in no particular order) as gzip-compressed UTF-8 JSON, encoded once per slide
 * and shared by every joiner.
 * Later operations may already show in it; replaying them on top is harmless, as each carries the
 * whole annotation after it. Parts go out a few at a time across all joiners, so a crowd joining a
 * slide with tens of thousands of annotations never holds the server for others.
 */
export interface SnapshotRef {
  /** Numbers this join's parts; a rejoin on the same socket starts a new transfer. */
  transfer: number;
  bytes: number;
  parts: number;
}

/** A part of a join's annotation snapshot (a Buffer in Node, an ArrayBuffer in a browser). */
export interface SnapshotPart {
  transfer: number;
  index: number;
  data: Uint8Array | ArrayBuffer;
}

export const SNAPSHOT_PART_BYTES = 128 * 1024;

/** Everything a client needs on (re)join. */
export interface RoomState {
  session: ReviewSessionDto;
  /** The seq the annotations are as of; the join's `replay` holds every operation after it. */
  seq: number;
  /** The slide's live annotations: what follows the answer as `snapshot` parts (see SnapshotRef). */
  annotations: SnapshotRef;
  participants: Participant[];
  chat: ChatMessageDto[];
  opinions: OpinionDto[];
}

export const JoinSchema = z.object({
  protocolVersion: z.literal(REVIEW_PROTOCOL_VERSION),
  sessionId: Uuid,
});
export type JoinRequest = z.infer<typeof JoinSchema>;

/** `replay`: the operations after `state.seq`, in order, to apply on top of `state.annotations`. */
export type JoinResult =
  { ok: true; state: RoomState; replay: AppliedOp[] } | { ok: false; code: string; message: string };

export type Ack<T = { ok: true }> = (result: T | { ok: false; code: string; message: string }) => void;

/** Events the client sends. Every one answers through its ack where it has one. */
export interface ClientToServerEvents {
  join: (req: JoinRequest, ack: (r: JoinResult) => void) => void;
  leave: () => void;
  op: (op: Operation, ack: (r: OpResult) => void) => void;
  cursor: (p: { x: number; y: number } | null) => void;
  view: (v: ViewDto) => void;
  /** "Bring everyone to my view" (host only). */
  summon: (v: ViewDto, ack: Ack) => void;
  chat: (m: { text: string }, ack: Ack<{ ok: true; message: ChatMessageDto }>) => void;
  opinion: (o: z.input<typeof OpinionRequestSchema>, ack: Ack<{ ok: true; opinion: OpinionDto }>) => void;
  /** Hear of AI runs ending: on one slide (the viewer), or on every slide the user sees (null: the library). */
  aiWatch: (w: AiWatch, ack: Ack) => void;
}

export interface ServerToClientEvents {
  op: (op: AppliedOp) => void;
  snapshot: (p: SnapshotPart) => void;
  presence: (p: Participant[]) => void;
  cursor: (c: { userId: string; x: number; y: number } | { userId: string; gone: true }) => void;
  view: (v: { userId: string; view: ViewDto }) => void;
  summon: (s: { userId: string; view: ViewDto }) => void;
  chat: (m: ChatMessageDto) => void;
  opinion: (o: OpinionDto) => void;
  closed: (s: { sessionId: string }) => void;
  /** The session can no longer be used by this user (access revoked, session closed, signed out). */
  kicked: (s: { code: string; message: string }) => void;
  /** The user's inbox changed (an invitation came, or was answered): read GET /api/inbox again. */
  inbox: (s: { changed: true }) => void;
  /** An AI run on a watched slide ended (see aiWatch); only to users who may see the run. */
  aiRun: (e: AiRunEndedDto) => void;
}

export const CursorSchema = z.object({ x: Coord, y: Coord }).nullable();
export const ChatSchema = z.object({ text: z.string().min(1).max(4000) });
/** One slide's runs, or (null) those of every slide the user sees; a new watch replaces the last. */
export const AiWatchSchema = z
  .object({
    slideId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .nullable(),
  })
  .strict();
export type AiWatch = z.infer<typeof AiWatchSchema>;

/** Participant colours, given in join order. */
export const PARTICIPANT_COLORS = [
  '#4da3ff',
  '#ff7a59',
  '#5ed18f',
  '#f5c542',
  '#c58cff',
  '#ff5fa2',
  '#47d6d6',
  '#b0b742',
];

/**
 * One invitation in a user's inbox (GET /api/inbox): a live review, or a second opinion asked of a
 * specialist. Open sessions on slides the user may still see only.
 */
export interface InboxItemDto {
  sessionId: string;
  slideId: string;
  kind: 'review' | 'second_opinion';
  /** As the invitee may see it (a generic title on a de-identified share). */
  title: string;
  /** A second opinion's question, as the requester wrote it (checked free of identifiers). */
  question: string | null;
  fromName: string;
  fromSiteName: string;
  invitedAt: string;
  /** A second opinion: the case's target date; null for a review. */
  dueAt: string | null;
  response: 'pending' | 'accepted' | 'declined';
  /** The viewer link that opens the session. */
  link: string;
}

export interface InboxDto {
  items: InboxItemDto[];
  /** Invitations not yet answered: the count in the header. */
  pending: number;
}

export const InboxResponseSchema = z.object({ response: z.enum(['accept', 'decline']) });
