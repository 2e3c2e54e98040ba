import type { AnnotationKind, CommentDto, ObjectType } from './review.ts';

/**
 * Annotations as QuPath GeoJSON (qupath.lib.io.PathObjectTypeAdapters, ROITypeAdapters), both ways:
 *
 *   GET  /api/slides/{id}/annotations?format=geojson   → GeoJsonFeatureCollection (what is sent)
 *   POST /api/slides/{id}/annotations?format=geojson   GeoJsonImportBody → GeoJsonImportReport
 *        201 every feature stored; 200 some left out (listed in `errors`); 400 none could be
 *        stored (an error body with the same report); 413 over the size limits (nothing stored).
 *
 * Coordinates are level-0 image pixels. Types only: the server reads an import field by field
 * (server/review/geojson.ts), so that one bad feature is reported by index and the rest kept.
 */

/** A position: [x, y] in level-0 pixels (a third member, if any, is ignored on import). */
export type GeoJsonPosition = [number, number];

/** QuPath's [r, g, b] (0–255), as Tessera writes it. */
export type GeoJsonRgb = [number, number, number];

export type GeoJsonGeometry =
  | { type: 'Point'; coordinates: GeoJsonPosition }
  | { type: 'MultiPoint'; coordinates: GeoJsonPosition[] }
  | { type: 'LineString'; coordinates: GeoJsonPosition[] }
  /** Rings closed, outer ring first (counterclockwise), then holes. `isEllipse`: QuPath's own member. */
  | { type: 'Polygon'; coordinates: GeoJsonPosition[][]; isEllipse?: true }
  /** Polygons with their holes. */
  | { type: 'MultiPolygon'; coordinates: GeoJsonPosition[][][] };

/** Areas only (a cell's nucleus). */
export type GeoJsonAreaGeometry = Extract<GeoJsonGeometry, { type: 'Polygon' | 'MultiPolygon' }>;

/** Tessera's own members, kept so a round trip loses nothing; optional on import. */
export interface GeoJsonTesseraProperties {
  kind: AnnotationKind;
  authorName: string;
  createdAt: string;
  comments: CommentDto[];
}

/** One annotation as the export writes it (QuPath 0.4/0.5 form). */
export interface GeoJsonFeature {
  type: 'Feature';
  /** The annotation's id. */
  id: string;
  geometry: GeoJsonGeometry;
  /** A cell's nucleus: beside `geometry`, where QuPath reads it; only on cells that have one. */
  nucleusGeometry?: GeoJsonAreaGeometry;
  properties: {
    objectType: ObjectType;
    /** The label; absent when empty. */
    name?: string;
    /** The object's own colour (drawn instead of the class colour); absent when it has none. */
    color?: GeoJsonRgb;
    /** Absent when unclassified; `names` for a derived class ("Tumor: Positive"). */
    classification?: { name: string; color: GeoJsonRgb } | { names: string[]; color: GeoJsonRgb };
    /** Written only when locked, as QuPath does. */
    isLocked?: true;
    /** Name to value; absent when there are none. */
    measurements?: Record<string, number>;
    tessera: GeoJsonTesseraProperties;
  };
}

export interface GeoJsonFeatureCollection {
  type: 'FeatureCollection';
  features: GeoJsonFeature[];
}

/** A colour as QuPath versions write it: [r, g, b], [r, g, b, a] (alpha dropped) or a packed (A)RGB integer (before 0.4). */
export type GeoJsonColourIn = GeoJsonRgb | [number, number, number, number] | number;

/**
 * A classification as accepted: {name, color}, {names, color} for a derived class, a bare name, or
 * before 0.4 {name, colorRGB}. null, absent, a null or empty name: unclassified. Without a colour,
 * a default class's colour (protocol/palette.ts), else "Other"'s.
 */
export type GeoJsonClassificationIn =
  | string
  | {
      name?: string | null;
      names?: string[];
      color?: GeoJsonColourIn | null;
      colorRGB?: GeoJsonColourIn | null;
    }
  | null;

/** A feature as the import accepts it: QuPath 0.2 to 0.5, or Tessera's own export. */
export interface GeoJsonFeatureIn {
  type?: 'Feature';
  /** Ignored (an import never overwrites); QuPath 0.2 wrote the object type here (`PathCellObject`). */
  id?: string | number;
  geometry: GeoJsonGeometry;
  /** A cell's nucleus; also accepted inside `properties`. Ignored on other object types. */
  nucleusGeometry?: GeoJsonAreaGeometry | null;
  properties?: {
    /** annotation, detection, tile (kept as a detection) or cell; absent: annotation. */
    objectType?: ObjectType | 'tile' | null;
    /** QuPath 0.3's name for `objectType`. */
    object_type?: string;
    name?: string | number | null;
    color?: GeoJsonColourIn | null;
    classification?: GeoJsonClassificationIn;
    isLocked?: boolean;
    /**
     * Name to value (0.4 on) or [{name, value}] (before). NaN, ±Infinity and null are no value and
     * left out (QuPath writes a bare NaN, which the server reads as null).
     */
    measurements?: Record<string, number | null> | { name: string; value: number | null }[] | null;
    nucleusGeometry?: GeoJsonAreaGeometry | null;
    /** `kind` restores a rectangle, ellipse, polyline or freehand shape; the rest is not read. */
    tessera?: Partial<GeoJsonTesseraProperties>;
  } | null;
}

/** An import body: a FeatureCollection, an array of features (QuPath without FEATURE_COLLECTION) or one Feature. */
export type GeoJsonImportBody =
  { type: 'FeatureCollection'; features: GeoJsonFeatureIn[] } | GeoJsonFeatureIn[] | GeoJsonFeatureIn;

/** A feature left out of an import: its index in the file and why (`reason` starts `features[index]: `). */
export interface GeoJsonFeatureError {
  index: number;
  reason: string;
}

/**
 * The answer to an import. Past 1,000 refused features, one last entry counts the unlisted rest
 * ("N more bad features (not listed)").
 */
export interface GeoJsonImportReport {
  imported: number;
  /** Ids of the stored annotations, in file order. */
  ids: string[];
  errors: GeoJsonFeatureError[];
}
