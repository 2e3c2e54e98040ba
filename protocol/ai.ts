import { z } from 'zod';
import type { ErrorCode } from './errors.ts';
import type { JobState } from './jobs.ts';
import type { AnnotationClass, AnnotationKind, Geometry, ObjectType } from './review.ts';
import { SOURCE_FORMATS } from './slides.ts';
import { SUBSPECIALTIES } from './cases.ts';

/**
 * AI algorithms: the registry, runs on slides, their results as layers, pathologists' verdicts and
 * the quality-assurance figures. Two audiences:
 *
 * 1. Tessera's own pages (session cookie or a user's bearer token):
 *
 *   GET    /api/ai/algorithms                     AlgorithmDto[]   (admins and lab managers: all, with how
 *                                                                    each is reached; others: enabled ones)
 *   POST   /api/ai/algorithms                     AlgorithmInput → AlgorithmDto (201)          (admins)
 *                                                 BuiltinRegistration → AlgorithmDto (201)
 *                                                                    (admins and lab managers)
 *   GET    /api/ai/algorithms/{id}                AlgorithmDto
 *   PATCH  /api/ai/algorithms/{id}                AlgorithmPatch → AlgorithmDto   (admins; lab managers
 *                                                   a built-in's enabled, trigger, appliesTo,
 *                                                   timeoutSeconds and concurrency)
 *   GET    /api/ai/builtins                       BuiltinAlgorithmDto[]  (admins and lab managers)
 *   POST   /api/slides/{id}/ai/runs               RunRequest → AiRunDto (202)   (the slide's own site)
 *   GET    /api/slides/{id}/ai/runs               AiRunDto[] (newest first; enabled algorithms only)
 *   GET    /api/slides/{id}/ai/results            AiResultsDto: one layer per finished run
 *   GET    /api/ai/runs/{runId}                   AiRunDto (also GET /api/jobs/{runId}: the job)
 *   GET    /api/ai/runs/{runId}/findings          AiFindingsDto (?minScore=0.5; ?format=geojson: QuPath GeoJSON)
 *   GET    /api/ai/runs/{runId}/heatmaps/{hid}.png  8-bit grey PNG (0..255 over the heat map's range)
 *   GET    /api/ai/runs/{runId}/verdicts          VerdictDto[] (everyone's verdicts on the run)
 *   PUT    /api/ai/runs/{runId}/verdicts/slide    VerdictRequest → VerdictDto (the slide-level result)
 *   PUT    /api/ai/runs/{runId}/verdicts/findings/{findingId}   VerdictRequest → VerdictDto
 *   DELETE the same two                           204 (withdraws one's own verdict)
 *   GET    /api/ai/qa?site=&from=&to=&algorithm=  AiQaDto        (lab managers: their site; admins)
 *   GET    /api/ai/qa.csv?table=summary|weekly|discordant&…      the same as CSV
 *
 * 2. Algorithms (the contract, protocol/ai-contract.md), with the token of one job, under
 *    `/api/ai/v{AI_CONTRACT_VERSION}/slides/{slideId}/jobs/{jobId}`.
 */

/** The version of the algorithm contract: in its URLs (`/api/ai/v1/…`) and the `Tessera-AI-Contract` header. */
export const AI_CONTRACT_VERSION = 1;
export const AI_CONTRACT_HEADER = 'Tessera-AI-Contract';

export const AI_TRIGGERS = ['automatic', 'on_request'] as const;
export type AiTrigger = (typeof AI_TRIGGERS)[number];

/** Why a run failed (with a message saying it in words). */
export const AI_FAILURES = [
  'timeout',
  'crashed',
  'unreachable',
  'malformed',
  'too_large',
  'wrong_slide',
  'out_of_scope',
  'reported',
  'disabled',
  'interrupted',
] as const;
export type AiFailure = (typeof AI_FAILURES)[number];

const Name = z.string().trim().min(1).max(100);
const Version = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$/, {
    message: 'a version is 1-50 letters, digits, dots, dashes, plus signs or underscores',
  });
const Stain = z
  .string()
  .regex(/^[a-z0-9]{1,16}$/, { message: 'a stain is a short lower-case id (he, ki67)' });

export const AppliesToSchema = z
  .object({
    /** Empty: any. A slide's subspecialty is its case's. */
    subspecialties: z.array(z.enum(SUBSPECIALTIES)).max(SUBSPECIALTIES.length).default([]),
    /** Empty: any. The stain the slide's name states (`he`, `ki67`, … as the library's stain filter). */
    stains: z.array(Stain).max(50).default([]),
    /** Empty: any. The scanner format the slide came in. */
    formats: z.array(z.enum(SOURCE_FORMATS)).max(SOURCE_FORMATS.length).default([]),
  })
  .strict();
export type AppliesTo = z.infer<typeof AppliesToSchema>;

/**
 * How Tessera reaches an algorithm: an HTTP endpoint it POSTs each job to, or a command on this
 * server (an on-premise tool) it starts for each job, without a shell, the job on its standard input.
 */
export const EndpointSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('http'),
      url: z
        .string()
        .max(2000)
        .refine(
          (u) => {
            try {
              return ['http:', 'https:'].includes(new URL(u).protocol);
            } catch {
              return false;
            }
          },
          { message: 'an http:// or https:// URL' },
        ),
    })
    .strict(),
  z
    .object({
      kind: z.literal('command'),
      /** The program (an absolute path) and its arguments, each as it is: no shell reads them. */
      argv: z
        .array(z.string().min(1).max(4096))
        .min(1)
        .max(64)
        .refine((a) => a[0]!.startsWith('/'), { message: 'the program is an absolute path' }),
    })
    .strict(),
]);
export type AlgorithmEndpoint = z.infer<typeof EndpointSchema>;

export const AlgorithmInputSchema = z
  .object({
    name: Name,
    version: Version,
    description: z.string().max(2000).default(''),
    appliesTo: AppliesToSchema.default({ subspecialties: [], stains: [], formats: [] }),
    endpoint: EndpointSchema,
    /** May see identified data (names, accession, label image); otherwise a study code stands in. */
    identifiedData: z.boolean().default(false),
    trigger: z.enum(AI_TRIGGERS).default('on_request'),
    enabled: z.boolean().default(true),
    /** From the job's start to its results; over it the job fails and its token ends. */
    timeoutSeconds: z.number().int().min(5).max(86_400).default(300),
    /** Jobs of this algorithm running at once (across all nodes). */
    concurrency: z.number().int().min(1).max(32).default(2),
  })
  .strict();
export type AlgorithmInput = z.input<typeof AlgorithmInputSchema>;

/** Name and version are what QA counts by: a new version is a new registration. */
export const AlgorithmPatchSchema = z
  .object({
    description: z.string().max(2000),
    appliesTo: AppliesToSchema,
    endpoint: EndpointSchema,
    identifiedData: z.boolean(),
    trigger: z.enum(AI_TRIGGERS),
    enabled: z.boolean(),
    timeoutSeconds: z.number().int().min(5).max(86_400),
    concurrency: z.number().int().min(1).max(32),
  })
  .partial()
  .strict();
export type AlgorithmPatch = z.infer<typeof AlgorithmPatchSchema>;

/** The algorithms shipped with Tessera, by key (server/ai/builtins.ts). */
export const BUILTIN_KEYS = ['reference'] as const;
export type BuiltinKey = (typeof BUILTIN_KEYS)[number];

/**
 * Registering a built-in algorithm: the server fills in its name, version, description and its
 * command; identified data stays off. Lab managers may register these, administrators anything.
 */
export const BuiltinRegistrationSchema = z
  .object({
    builtin: z.enum(BUILTIN_KEYS),
    appliesTo: AppliesToSchema.default({ subspecialties: [], stains: [], formats: [] }),
    trigger: z.enum(AI_TRIGGERS).default('on_request'),
    enabled: z.boolean().default(true),
    timeoutSeconds: z.number().int().min(5).max(86_400).default(300),
    concurrency: z.number().int().min(1).max(32).default(2),
  })
  .strict();
export type BuiltinRegistration = z.input<typeof BuiltinRegistrationSchema>;

/** What a lab manager may change, and only on an algorithm whose endpoint is a built-in's. */
export const LAB_MANAGER_PATCH_KEYS = [
  'enabled',
  'trigger',
  'appliesTo',
  'timeoutSeconds',
  'concurrency',
] as const satisfies readonly (keyof AlgorithmPatch)[];

/** GET /api/ai/builtins: a built-in algorithm, and its registration if it has one. */
export interface BuiltinAlgorithmDto {
  key: BuiltinKey;
  name: string;
  version: string;
  description: string;
  /** How it is run (the server's own command): administrators only, null for others. */
  endpoint: AlgorithmEndpoint | null;
  /** The id of its registration (this name and version), null while unregistered. */
  registeredId: string | null;
}

export interface AlgorithmRef {
  id: string;
  name: string;
  version: string;
  enabled: boolean;
}

export interface AlgorithmDto extends AlgorithmRef {
  description: string;
  appliesTo: AppliesTo;
  /** null for users who do not manage algorithms. */
  endpoint: AlgorithmEndpoint | null;
  /** The built-in it runs (its endpoint is exactly that built-in's command), else null. */
  builtin: BuiltinKey | null;
  identifiedData: boolean;
  trigger: AiTrigger;
  timeoutSeconds: number;
  concurrency: number;
  createdAt: string;
  updatedAt: string;
}

export const RunRequestSchema = z.object({ algorithmId: z.uuid() }).strict();
export type RunRequest = z.infer<typeof RunRequestSchema>;

/** One algorithm's job on one slide (its id is also the job's: `GET /api/jobs/{id}`). */
export interface AiRunDto {
  id: string;
  slideId: string;
  algorithm: AlgorithmRef;
  trigger: 'automatic' | 'request';
  requestedBy: { id: string; name: string } | null;
  state: JobState;
  percent: number;
  stage: string | null;
  error: { code: ErrorCode; message: string } | null;
  failure: AiFailure | null;
  /** Whether the algorithm saw the slide de-identified (a study code, no label). */
  deidentified: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * socket.io `aiRun`: a run ended (done or failed). Sent to connections watching its slide or the
 * library (`aiWatch`, protocol/review.ts) whose user may see the run, as GET /api/ai/runs/{id} would.
 */
export interface AiRunEndedDto {
  run: AiRunDto;
  /** The slide-level result of a finished run that gave one. */
  result: AiSlideResultDto | null;
}

export interface AiSlideResultDto {
  label: string;
  score: number | null;
  /** The algorithm's call on the slide; null: it made none. */
  positive: boolean | null;
  text: string | null;
}

/** A region of the slide in full-resolution (level 0) pixels. */
export interface SlideRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * A heat map: `width` x `height` values covering `region` of the slide (each value a cell of
 * region.width / width slide pixels). The PNG is 8-bit grey: 0..255 spans `range` linearly.
 */
export interface AiHeatmapDto {
  id: string;
  name: string;
  label: string;
  width: number;
  height: number;
  region: SlideRegion;
  range: [number, number];
  /** The PNG (same origin, the user's session). */
  url: string;
}

export type Verdict = 'accept' | 'reject';

export interface VerdictDto {
  id: string;
  runId: string;
  /** 'slide' for the slide-level result, else a finding's id. */
  target: string;
  verdict: Verdict;
  comment: string | null;
  userId: string;
  userName: string;
  at: string;
}

export const VerdictRequestSchema = z
  .object({ verdict: z.enum(['accept', 'reject']), comment: z.string().trim().max(2000).optional() })
  .strict();
export type VerdictRequest = z.infer<typeof VerdictRequestSchema>;

/** A finished run as a layer of the viewer: marked as AI output by its algorithm and version. */
export interface AiLayerDto {
  run: AiRunDto;
  slideResult: AiSlideResultDto | null;
  heatmaps: AiHeatmapDto[];
  findings: {
    count: number;
    /** Lowest and highest score among them; null when none has one. */
    scoreRange: [number, number] | null;
    classes: string[];
    url: string;
  };
  verdicts: {
    /** The asking user's verdict on the slide-level result. */
    mine: VerdictDto | null;
    slideAccepted: number;
    slideRejected: number;
    findingsJudged: number;
  };
}

/** `GET /api/slides/{id}/ai/results`: newest run first; a disabled algorithm's runs are left out. */
export interface AiResultsDto {
  slideId: string;
  layers: AiLayerDto[];
}

/** A detection or region an algorithm found: an annotation's shape, never one of the pathologists'. */
export interface AiFindingDto {
  id: string;
  runId: string;
  kind: AnnotationKind;
  objectType: ObjectType;
  geometry: Geometry;
  nucleus: Geometry | null;
  classification: AnnotationClass | null;
  label: string;
  color: string | null;
  measurements: Record<string, number>;
  /** `measurements.score` (or `probability`), for the viewer's threshold; null when absent. */
  score: number | null;
  /** The asking user's verdict. */
  verdict: Verdict | null;
}

export interface AiFindingsDto {
  runId: string;
  algorithm: AlgorithmRef;
  findings: AiFindingDto[];
}

// ---- quality assurance ----

export interface AiQaWeekDto {
  /** Monday of the ISO week (UTC), YYYY-MM-DD. */
  weekStart: string;
  runs: number;
  done: number;
  failed: number;
  accepted: number;
  rejected: number;
  agreement: number | null;
}

export interface AiDiscordantDto {
  runId: string;
  slideId: string;
  /** The name the run's site gives the slide. */
  slideName: string;
  aiLabel: string;
  aiScore: number | null;
  aiPositive: boolean | null;
  /** AI positive and rejected (a false positive to the pathologist), or AI negative and rejected. */
  kind: 'ai_positive_rejected' | 'ai_negative_rejected';
  userName: string;
  comment: string | null;
  at: string;
}

export interface AiQaAlgorithmDto {
  algorithm: AlgorithmRef;
  runs: { total: number; done: number; failed: number; failures: Partial<Record<AiFailure, number>> };
  /** Verdicts on slide-level results; agreement = accepted / (accepted + rejected). */
  slideVerdicts: { accepted: number; rejected: number; agreement: number | null };
  findingVerdicts: { accepted: number; rejected: number; agreement: number | null };
  /** From the slide's arrival at the site (its scan stored) to the run's result, for finished runs. */
  timeToResult: { count: number; medianSeconds: number; p90Seconds: number; meanSeconds: number } | null;
  weekly: AiQaWeekDto[];
  discordant: AiDiscordantDto[];
}

export interface AiQaDto {
  site: string | null;
  from: string;
  to: string;
  algorithms: AiQaAlgorithmDto[];
}

// ---- the algorithm contract (protocol/ai-contract.md) ----

const Url = z.string().min(1).max(2000);

/** What Tessera sends an algorithm for each job: POSTed to its endpoint, or a command's standard input. */
export const AiJobRequestSchema = z.object({
  contract: z.literal(AI_CONTRACT_VERSION),
  job: z.object({
    id: z.string().min(1).max(64),
    /** After this the token ends and the job fails. */
    deadline: z.string(),
    algorithm: z.object({ id: z.string(), name: z.string(), version: z.string() }),
  }),
  /** Bearer token: reads this slide only, writes this job's results only; ends with the job. */
  token: z.string().min(1),
  slide: z.object({
    id: z.string().regex(/^[0-9a-f]{32}$/),
    /** The study code when de-identified, else the name the site gives it. */
    name: z.string(),
    deidentified: z.boolean(),
    studyCode: z.string().nullable(),
    /** The case's accession (identified only). */
    accession: z.string().nullable(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    tileSize: z.number().int().positive(),
    levels: z.number().int().positive(),
    mppX: z.number().nullable(),
    mppY: z.number().nullable(),
    objectivePower: z.number().nullable(),
    sourceFormat: z.string(),
    stain: z.string().nullable(),
  }),
  urls: z.object({
    /** GET: the slide's detail (SlideDetailDto). */
    slide: Url,
    /** GET with `?max=N` (1-2048): a JPEG thumbnail whose longer side is N. */
    thumbnail: Url,
    /** Deep Zoom descriptor; tiles at `{dzi without .dzi}_files/{level}/{col}_{row}.jpeg`. */
    dzi: Url,
    /** IIIF Image API 3 base: `{iiif}/info.json`, `{iiif}/{region}/{size}/0/default.jpg`. */
    iiif: Url,
    iiifManifest: Url,
    /** DICOMweb WADO-RS of the slide's study and series (as the token's grant sees them). */
    dicomweb: z.object({ root: Url, study: Url, series: Url }).nullable(),
    /** Base of this job's results endpoints (the contract). */
    results: Url,
  }),
});
export type AiJobRequest = z.infer<typeof AiJobRequestSchema>;

export const AiProgressSchema = z
  .object({ percent: z.number().min(0).max(100), stage: z.string().max(200).optional() })
  .strict();
export type AiProgress = z.infer<typeof AiProgressSchema>;

/** Heat map names: in the results URL. */
export const HEATMAP_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

export const AI_RESULT_LIMITS = {
  /** Annotations body (GeoJSON), bytes; features and points as the GeoJSON import's. */
  annotationBytes: 20 * 1024 * 1024,
  /** A heat map's JSON body, bytes (base64 data included). */
  heatmapBytes: 24 * 1024 * 1024,
  heatmapSide: 4096,
  heatmapPixels: 4096 * 4096,
  heatmaps: 8,
  /** Other JSON bodies (progress, complete, fail). */
  smallBytes: 64 * 1024,
};

export const AiHeatmapSchema = z
  .object({
    label: z.string().max(200).optional(),
    /** The slide area covered, in level-0 pixels; default the whole slide. */
    region: z
      .object({
        x: z.number().min(0),
        y: z.number().min(0),
        width: z.number().positive(),
        height: z.number().positive(),
      })
      .strict()
      .optional(),
    width: z.number().int().min(1).max(AI_RESULT_LIMITS.heatmapSide),
    height: z.number().int().min(1).max(AI_RESULT_LIMITS.heatmapSide),
    /**
     * `float32`: width x height little-endian IEEE floats, row by row from the top left; `png`: a PNG
     * of that size whose first channel is read (0..255 over `range`).
     */
    encoding: z.enum(['png', 'float32']),
    /** The bytes, base64. */
    data: z.string().min(1),
    /** The values' meaningful span: float values are clamped to it; default [0, 1]. */
    range: z
      .tuple([z.number().finite(), z.number().finite()])
      .refine(([a, b]) => b > a, { message: 'range is [min, max] with max > min' })
      .optional(),
  })
  .strict();
export type AiHeatmapInput = z.infer<typeof AiHeatmapSchema>;

export const AiSlideResultSchema = z
  .object({
    label: z.string().trim().min(1).max(200),
    score: z.number().finite().optional(),
    positive: z.boolean().optional(),
    text: z.string().max(4000).optional(),
  })
  .strict();

export const AiCompleteSchema = z.object({ slideResult: AiSlideResultSchema.optional() }).strict();
export type AiComplete = z.infer<typeof AiCompleteSchema>;

export const AiFailSchema = z.object({ message: z.string().trim().min(1).max(2000) }).strict();
export type AiFail = z.infer<typeof AiFailSchema>;
