import { useState } from 'react';

/** An image that degrades to a quiet placeholder when the server has none (or is not answering). */
export function SlideImage({ src, alt, className }: { src: string; alt: string; className: string }) {
  const [failed, setFailed] = useState(false);
  if (failed) return <div className="img-missing">no image</div>;
  return (
    <img
      className={className}
      src={src}
      alt={alt}
      loading="lazy"
      decoding="async"
      onError={() => setFailed(true)}
    />
  );
}
