import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, fetchBlob, unwrap } from "@/shared/api/client";
import { slidesQuery, slideUrls, uploadSlide, uploadOf } from "@/shared/api/slides";
import { useTenant } from "@/shared/tenant/useTenant";

export function useSlides() {
  const tenant = useTenant();
  return useQuery({ ...slidesQuery(tenant), retry: 1 });
}

export function useUploadSlide() {
  const tenant = useTenant();
  const client = useQueryClient();
  const [progress, setProgress] = useState(0);
  const mutation = useMutation({
    mutationFn: (file: File) => {
      setProgress(0);
      return uploadSlide(file, setProgress);
    },
    onSettled: () => client.invalidateQueries({ queryKey: slidesQuery(tenant).queryKey }),
  });
  return { ...mutation, progress };
}

/** Delete one of the tenant's uploads (refused with 409 while a pending or running job names it). */
export function useDeleteUpload() {
  const tenant = useTenant();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (slide: string) => {
      const upload = uploadOf(slide);
      if (!upload) throw new Error(`${slide} is not an upload`);
      return unwrap(api.DELETE("/v1/slides/uploads/{owner}/{name}", { params: { path: upload } }));
    },
    onSettled: () => client.invalidateQueries({ queryKey: slidesQuery(tenant).queryKey }),
  });
}

/** An object URL for an image the gateway serves only with the tenant header. */
export function useThumbnail(slide: string, maxSize = 360): { url: string | null; failed: boolean } {
  const tenant = useTenant();
  const query = useQuery({
    queryKey: ["slides", tenant, slide, "thumbnail", maxSize],
    queryFn: ({ signal }) => fetchBlob(slideUrls.thumbnail(slide, maxSize), signal),
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!query.data) return undefined;
    const next = URL.createObjectURL(query.data);
    setUrl(next);
    return () => URL.revokeObjectURL(next);
  }, [query.data]);
  return { url, failed: query.isError };
}
